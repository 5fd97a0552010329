import pg from 'pg';

const settled = <T>(p: Promise<T>): Promise<PromiseSettledResult<T>> => Promise.allSettled([p]).then(([r]) => r);

/**
 * Runs one statement in a transaction of its own on a connection of a
 * pipelining pool (createPool's `pipeline`), in about one round trip: BEGIN,
 * the transaction's id and the statement leave together; the COMMIT follows as
 * soon as the id is back, usually while the server still runs the statement,
 * so the server commits as soon as the statement ends. The rows it locks (the
 * shared rollup and rate-limit rows every batch updates) are then held for the
 * statement and the WAL flush only, not for a round trip to this busy process,
 * and the next batch, waiting on those rows, goes on sooner.
 *
 * The COMMIT leaves only once the id is known, so a connection that breaks
 * after that makes `inDoubt(txid, err)`: the server may have committed, and
 * the journal's replay asks it (txid_status). Before that, nothing can have
 * committed. A statement the server refused (an error with its SQLSTATE)
 * aborted the transaction; the COMMIT behind it only ends it, and the refusal
 * is thrown as it is.
 */
export async function runAndCommit<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  statement: pg.QueryConfig,
  inDoubt: (txid: string, err: unknown) => Error,
): Promise<R[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const begun = client.query('BEGIN');
    const id = client.query<{ txid: string }>('SELECT txid_current()::text AS txid');
    const work = client.query<R>(statement);
    // A breaking connection ends every query in flight at once: no rejection may go unhandled meanwhile.
    const ran = settled(work);
    id.catch(() => undefined);
    let txid: string;
    try {
      await begun;
    } catch (err) {
      if (!(err instanceof pg.DatabaseError)) {
        broken = err as Error;
        throw err;
      }
      // Refused, BEGIN left no transaction open: the statement ran and committed (or failed) on its own.
      const alone = await ran;
      if (alone.status === 'rejected') throw alone.reason;
      return alone.value.rows;
    }
    try {
      txid = (await id).rows[0].txid;
    } catch (err) {
      // No COMMIT was sent: nothing is committed. A refusal leaves the aborted transaction to end.
      await ran;
      if (err instanceof pg.DatabaseError) {
        await client.query('ROLLBACK').catch((e) => {
          broken = e as Error;
        });
      } else broken = err as Error;
      throw err;
    }
    const [result, committed] = await Promise.all([ran, settled(client.query('COMMIT'))]);
    if (committed.status === 'fulfilled') {
      // The outcome is known. A statement that failed took no effect: refused, the COMMIT only ended the transaction.
      if (result.status === 'rejected') throw result.reason;
      if (committed.value.command !== 'COMMIT') throw new Error(`the transaction ended with ${committed.value.command} instead of COMMIT`);
      return result.value.rows;
    }
    broken = committed.reason as Error;
    // A statement the server refused aborted the transaction: whatever became of the COMMIT, nothing was committed.
    if (result.status === 'rejected' && result.reason instanceof pg.DatabaseError) throw result.reason;
    throw inDoubt(txid, committed.reason);
  } finally {
    client.release(broken);
  }
}
