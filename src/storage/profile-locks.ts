import type { SqlExecutor } from './database.js';

/**
 * Locks the profiles in id order and answers, for each one a merge deleted while this waited for its
 * lock, the survivor now holding its id (locked too): the first statement's snapshot predates the
 * merge, so only a later statement finds the survivor. Where nothing was merged (the common case) it
 * is the one statement.
 */
export async function lockSurvivors(tx: SqlExecutor, ids: readonly string[]): Promise<Map<string, string>> {
  const locked = await tx.query<{ id: string }>(
    'SELECT id FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
    [ids],
  );
  const mergedInto = new Map<string, string>();
  if (locked.length === new Set(ids).size) return mergedInto;
  const found = new Set(locked.map((row) => row.id));
  let missing = ids.filter((id) => !found.has(id));
  // A survivor's `ids` holds every id merged into it, so a chain of merges needs no following; a
  // survivor itself merged away while this waited is skipped by its lock, and found by the next read.
  for (let attempt = 0; missing.length > 0 && attempt < 3; attempt++) {
    const survivors = await tx.query<{ id: string; ids: string[] }>(
      `SELECT id, ids FROM profiles WHERE ids <> '{}' AND ids && $1::text[] ORDER BY id FOR UPDATE`,
      [missing],
    );
    const wanted = new Set(missing);
    for (const survivor of survivors)
      for (const id of survivor.ids) if (wanted.has(id)) mergedInto.set(id, survivor.id);
    missing = missing.filter((id) => !mergedInto.has(id));
  }
  return mergedInto;
}
