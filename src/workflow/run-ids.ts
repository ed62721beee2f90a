import { hash } from 'node:crypto';

/**
 * Ids derived from what they stand for, so that whoever derives one again (a repeated commit, the API
 * answering a retried request, a run executed twice) names the same row: a repeat finds it stored.
 * An MD5 digest laid out as a UUID; the length prefix keeps `a`+`bc` apart from `ab`+`c`.
 */
function derivedId(first: string, second: string): string {
  const hex = hash('md5', `${Buffer.byteLength(first)}:${first}${second}`, 'hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The run a rule starts for an event. The commit step derives the same id in SQL (runIdSql). */
export const runIdFor = (ruleId: string, eventId: string): string => derivedId(ruleId, eventId);

/** runIdFor in SQL, over two text expressions. */
export const runIdSql = (rule: string, event: string): string =>
  `md5(octet_length(${rule})::text || ':' || ${rule} || ${event})::uuid::text`;

/** The id of the `index`th event a run raises: tracked twice, it is stored once. */
export const raisedEventId = (runId: string, index: number): string => derivedId(`raise:${runId}`, String(index));

/**
 * The run of a segmentation flow for one profile in one segmentation job run: a batch delivered twice
 * names the same runs, and finds them done.
 */
export const segmentationRunId = (jobRunId: string, flowId: string, profileId: string): string =>
  derivedId(`segmentation:${jobRunId}:${flowId}`, profileId);
