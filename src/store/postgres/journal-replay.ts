import type pg from 'pg';
import { RECORD_COLUMNS, pricedInsertSql, recordValues } from '../sql/insert-query-sql.js';
import type { JournaledRecord } from '../types.js';
import { LOCK_MODELS_SHARED } from './advisory-locks.js';
import { RECORD_COLUMN_TYPES } from './column-types.js';
import { Statement, inTransaction, runNamed } from './statements.js';

/**
 * Journal entries as one INSERT: one array parameter per column, unnested,
 * priced in the statement as a single insert is, and skipped where the
 * entry's id is already in the table (replayed before a crash).
 */
const INSERT_JOURNALED_BATCH = new Statement(
  'oap_insert_journaled_batch',
  pricedInsertSql(
    (column) => `u.${column}`,
    `unnest(${[...RECORD_COLUMNS.map((c) => `@${c}::${RECORD_COLUMN_TYPES[c]}[]`), '@journal_id::text[]'].join(', ')})
       AS u(${[...RECORD_COLUMNS, 'journal_id'].join(', ')})`,
    'u.journal_id',
  ),
);

/**
 * Writes a batch of journal entries in one transaction (group commit): the
 * pricing locks of every model in it, shared, then one INSERT. Replaying a
 * journal costs one round of commits per batch instead of one per call.
 */
export async function insertJournaled(pool: pg.Pool, entries: JournaledRecord[]): Promise<void> {
  if (entries.length === 0) return;
  const columns: Record<string, unknown[]> = Object.fromEntries([...RECORD_COLUMNS, 'journal_id'].map((c) => [c, []]));
  const models = new Set<string>();
  for (const { query, journalId } of entries) {
    const values = recordValues(query);
    for (const c of RECORD_COLUMNS) columns[c].push(values[c]);
    columns.journal_id.push(journalId);
    models.add(values.model as string).add(values.base_model as string);
  }
  await inTransaction(pool, async (client) => {
    await runNamed(client, LOCK_MODELS_SHARED, { models: [...models] });
    await INSERT_JOURNALED_BATCH.run(client, columns);
  });
}
