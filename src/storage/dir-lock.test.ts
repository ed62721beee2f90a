import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockDirectory } from './dir-lock.js';

describe('lockDirectory', () => {
  const lockPath = () => join(mkdtempSync(join(tmpdir(), 'meridian-lock-')), 'pgdata.lock');

  it('takes the lock, refuses a second owner while the first lives, and releases', async () => {
    const path = lockPath();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    writeFileSync(path, String(other.pid));
    expect(() => lockDirectory(path, 'the store')).toThrow(new RegExp(`in use by process ${other.pid}`));
    other.kill();
    await new Promise((resolve) => other.on('exit', resolve));
    // The owner died: its lock is taken over.
    const release = lockDirectory(path, 'the store');
    expect(readFileSync(path, 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(path)).toBe(false);
  });
});
