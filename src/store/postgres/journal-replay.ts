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
export async function insertJournaled(pool: pg.Pool, all: JournaledRecord[]): Promise<void> {
  const entries: JournaledRecord[] = [];
  for (const e of all) if (!(e.inDoubtTxid && (await committed(pool, e.inDoubtTxid)))) entries.push(e);
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

/**
 * Whether the transaction of a first attempt whose COMMIT went unanswered did commit (its row is then already in
 * the table, without a journal id). Still in progress: not decided yet, so this replay fails and is retried. A
 * transaction this server never saw (a failover to a replica it had not reached) did not commit here.
 */
async function committed(pool: pg.Pool, txid: string): Promise<boolean> {
  let status: string | null;
  try {
    status = (await pool.query<{ s: string | null }>('SELECT txid_status($1::bigint) AS s', [txid])).rows[0].s;
  } catch (err) {
    if ((err as { code?: string }).code === '22023') return false;
    throw err;
  }
  if (status === 'in progress') throw new Error(`transaction ${txid} of a journaled call is still in progress; replaying it later`);
  return status === 'committed';
}
