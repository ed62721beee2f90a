/** Erases the rest of the line, from the cursor. */
const ERASE_TO_END = '\u001b[K';

interface Output {
  write(text: string): unknown;
}

/**
 * A progress bar redrawn in place on a terminal, and the lines written to that terminal meanwhile (a
 * log line on stdout while the bar is on stderr): the bar is erased before each and drawn again below
 * it, so that no line lands on the bar's.
 */
export class ProgressLine {
  /** The bar as drawn last; undefined while none is on screen. */
  private bar: string | undefined;
  private ended = false;

  constructor(private readonly terminal: Output) {}

  draw(text: string): void {
    if (this.ended) return;
    this.bar = text;
    this.terminal.write(`\r${text}${ERASE_TO_END}`);
  }

  /** Draws the bar a last time and ends its line; a refresh that comes later draws nothing. */
  end(text: string): void {
    if (this.ended) return;
    this.draw(text);
    this.terminal.write('\n');
    this.bar = undefined;
    this.ended = true;
  }

  /** Writes whole lines to `out`, the bar erased first and drawn again after them. */
  print(out: Output, lines: string): void {
    if (this.bar === undefined) {
      out.write(lines);
      return;
    }
    this.terminal.write(`\r${ERASE_TO_END}`);
    out.write(lines);
    this.terminal.write(`${this.bar}${ERASE_TO_END}`);
  }
}
