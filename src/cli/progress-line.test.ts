import { describe, expect, it } from 'vitest';
import { screenLines } from '../../test/support/terminal.js';
import { ProgressLine } from './progress-line.js';

/** stdout and stderr writing to one terminal, as they do in a shell. */
function terminal() {
  let output = '';
  const screen = { write: (text: string) => (output += text) };
  return { screen, lines: () => screenLines(output) };
}

describe('ProgressLine', () => {
  it('writes lines printed meanwhile above the bar, each on a line of its own, the bar drawn again below', () => {
    const { screen, lines } = terminal();
    const bar = new ProgressLine(screen);
    bar.draw('[#.] 50%');
    bar.print(screen, '{"msg":"batch stored"}\n');
    bar.draw('[##] 100% long');
    bar.print(screen, '{"msg":"import run done"}\n');
    bar.end('[##] done');
    screen.write('{"job":"j1"}\n');
    expect(lines()).toEqual(['{"msg":"batch stored"}', '{"msg":"import run done"}', '[##] done', '{"job":"j1"}', '']);
  });

  it('prints as it is given before the bar is drawn and once it ended, and draws nothing after its end', () => {
    const { screen, lines } = terminal();
    const bar = new ProgressLine(screen);
    bar.print(screen, 'before\n');
    bar.draw('[..] 0%');
    bar.end('[##] done');
    bar.draw('[#.] a late refresh');
    bar.end('[##] done again');
    bar.print(screen, 'after\n');
    expect(lines()).toEqual(['before', '[##] done', 'after', '']);
  });
});
