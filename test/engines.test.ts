import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string };
}

const root = new URL('../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, LockedPackage>;
};

/** `npm install` warns EBADENGINE when a package needs a newer Node.js than `engines` promises. */
describe('engines', () => {
  it('every package the server installs runs on the oldest Node.js that package.json promises', () => {
    const oldest = semver.minVersion(manifest.engines.node)!.version;
    const needNewer = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && !entry.dev && entry.engines?.node !== undefined)
      .filter(([, entry]) => !semver.satisfies(oldest, entry.engines!.node!))
      .map(
        ([path, entry]) =>
          `${path.replace(/^.*node_modules\//, '')}@${entry.version} needs node ${entry.engines!.node}`,
      );
    expect(needNewer).toEqual([]);
  });
});
