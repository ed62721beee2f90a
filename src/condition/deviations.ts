/**
 * Where Meridian deliberately answers a Tracardi compatibility case differently. The compatibility
 * test reads this list, and docs/conditions.md must mention every id (a test checks it).
 */
export interface Deviation {
  /** What Meridian answers. */
  meridian: boolean;
  reason: string;
}

const ERROR_BECOMES_FALSE =
  'Tracardi raises an error; Meridian answers false and reports a warning (a type that makes the operator meaningless)';
const MISSING_IN_FUNCTION =
  'Tracardi raises an error for a missing or null value inside a date function; Meridian makes that comparison false (with a warning)';

export const DEVIATIONS: Readonly<Record<string, Deviation>> = {
  'cond-040': {
    meridian: true,
    reason:
      'The clock is read once per evaluation, so now() == now() is true; Tracardi relies on two clock reads differing',
  },
  'cond-097': { meridian: false, reason: MISSING_IN_FUNCTION },
  'cond-101': { meridian: false, reason: MISSING_IN_FUNCTION },
  'cond-102': {
    meridian: true,
    reason:
      'A missing value makes only its own comparison false, on either side of OR; the right side (a.h IS NULL) is true. Tracardi raises because the missing value is on the left',
  },
  'cond-105': { meridian: false, reason: MISSING_IN_FUNCTION },
  'cond-111': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-112': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-113': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-114': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-119': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-120': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-121': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-122': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-127': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-128': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-129': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-130': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-147': {
    meridian: false,
    reason: 'Comparing two fields compares them (1 vs "test"); Tracardi overwrites the left value with the right one',
  },
  'cond-148': {
    meridian: false,
    reason: 'Comparing two fields compares them ("test" vs 1); Tracardi overwrites the left value with the right one',
  },
  'cond-158': {
    meridian: true,
    reason: 'AND binds tighter than OR without parentheses, as in SQL; Tracardi rejects the mix',
  },
  'cond-164': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-165': { meridian: false, reason: ERROR_BECOMES_FALSE },
  'cond-170': {
    meridian: false,
    reason: 'A missing field is neither null nor not null (use EXISTS / EMPTY); Tracardi counts it as not null',
  },
  'cond-193': { meridian: false, reason: 'Meridian has a prefix NOT (here NOT (1 == 1)); Tracardi has none' },
  'cond-194': { meridian: true, reason: 'Meridian has IN [..]; Tracardi has none' },
};
