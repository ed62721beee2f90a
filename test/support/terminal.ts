const ERASE_TO_END = '\u001b[K';

/**
 * The lines a terminal shows for `output`: a carriage return goes back to the line's start, a newline
 * to the next line's, ESC [K erases from the cursor to the line's end, and text overwrites what is there.
 */
export function screenLines(output: string): string[] {
  const lines = [''];
  let column = 0;
  for (let at = 0; at < output.length; at++) {
    const row = lines.length - 1;
    const char = output[at]!;
    if (output.startsWith(ERASE_TO_END, at)) {
      lines[row] = lines[row]!.slice(0, column);
      at += ERASE_TO_END.length - 1;
    } else if (char === '\r') column = 0;
    else if (char === '\n') {
      lines.push('');
      column = 0;
    } else {
      const line = lines[row]!.padEnd(column);
      lines[row] = line.slice(0, column) + char + line.slice(column + 1);
      column++;
    }
  }
  return lines;
}
