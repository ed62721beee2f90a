/**
 * `column` at or before `toParam`, to the millisecond: a range's TO is inclusive as an Elasticsearch
 * `lte` is, at the millisecond precision it is written in, while stored times carry microseconds. A
 * TO of 23:59:59.999 (as `now/d` rounds up) must include 23:59:59.999500.
 */
export const upToMillisecond = (column: string, toParam: string): string =>
  `${column} < ${toParam}::timestamptz + interval '1 millisecond'`;
