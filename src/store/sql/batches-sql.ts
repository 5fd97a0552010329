/**
 * Batch API jobs the proxy follows (proxy/batch-poller.ts), the same SQL on every
 * store. A job is polled by one instance at a time: taking it sets a lease,
 * and the UPDATE only takes a job whose lease has run out, so two instances
 * (or a restarted one) never read the same job at once, and a job whose
 * poller died is taken again once its lease ends.
 */
export const BATCHES_SQL = {
  /** @id, @user, @keyId, @endpoint, @createdAt, @nextPollAt. A job remembered twice keeps its first creator. */
  remember: `INSERT INTO batches (id, user_name, key_id, endpoint, created_at, next_poll_at)
    VALUES (@id, @user, @keyId, @endpoint, @createdAt, @nextPollAt) ON CONFLICT (id) DO NOTHING`,
  /** @now, @leaseUntil: the job due longest, leased; no row when none is due. */
  leaseDue: `UPDATE batches SET lease_until = @leaseUntil
    WHERE id = (SELECT id FROM batches WHERE final_status IS NULL AND next_poll_at <= @now AND lease_until <= @now
                ORDER BY next_poll_at LIMIT 1)
      AND lease_until <= @now
    RETURNING id, user_name, key_id, endpoint, created_at, attempts`,
  /** @id, @nextPollAt, @attempts: not done yet; polled again later, by whichever instance comes first. */
  defer: 'UPDATE batches SET next_poll_at = @nextPollAt, attempts = @attempts, lease_until = 0 WHERE id = @id',
  /** @id, @finalStatus, @finishedAt: its results are counted; never polled again. */
  finish: 'UPDATE batches SET final_status = @finalStatus, finished_at = @finishedAt, lease_until = 0 WHERE id = @id',
};

export function toDueBatch(r: Record<string, unknown>) {
  return {
    id: r.id as string,
    user: r.user_name as string,
    keyId: (r.key_id as string | null) ?? null,
    endpoint: r.endpoint as string,
    createdAt: Number(r.created_at),
    attempts: Number(r.attempts),
  };
}
