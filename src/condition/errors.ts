/** Raised for any text that is not a valid condition; `position` is a 0-based character offset. */
export class ConditionSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly position: number,
    readonly expected: readonly string[] = [],
  ) {
    super(`${reason} at position ${position}` + (expected.length ? ` (expected ${expected.join(', ')})` : ''));
    this.name = 'ConditionSyntaxError';
  }
}

/** Raised by compileToSql for a valid condition that has no SQL form (e.g. it reads `payload@`). */
export class ConditionNotCompilableError extends Error {
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(message);
    this.name = 'ConditionNotCompilableError';
  }
}
