import type pg from 'pg';
import type { JournaledRecord } from '../types.js';
import { recordRows } from './record-batches.js';

/**
 * Writes a batch of journal entries in one transaction (group commit), with
 * the same record function as live calls (record-batches.ts): priced, added to
 * the usage rollup, their rate-limit readings kept, and each entry skipped
 * where its id is already in the table (replayed before a crash). Replaying a
 * journal costs one commit per batch instead of one per call.
 */
export async function insertJournaled(pool: pg.Pool, all: JournaledRecord[]): Promise<void> {
  const entries: JournaledRecord[] = [];
  for (const e of all) if (!(e.inDoubtTxid && (await committed(pool, e.inDoubtTxid)))) entries.push(e);
  if (entries.length === 0) return;
  await recordRows(pool, entries);
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
