import type pg from 'pg';

/**
 * A connection can break at any moment: the server restarts, fails over, or
 * an administrator ends the session (pg_terminate_backend, error 57P01). pg
 * then emits 'error' on the client, and an 'error' event nobody listens to
 * ends the process. pg-pool listens only while a client is idle and removes
 * its listener while the client is checked out (inside a transaction), so
 * every client gets a listener of its own for its whole life. The statement
 * in flight still fails, the client is released as broken, and the call goes
 * to the journal.
 */
export function handleConnectionErrors(pool: pg.Pool, onLost: (message: string) => void): void {
  pool.on('connect', (client) => {
    client.on('error', (err) => onLost(connectionLostMessage(err)));
  });
  // Idle clients: pg-pool removes them and re-emits the error on the pool.
  pool.on('error', (err) => onLost(connectionLostMessage(err)));
}

function connectionLostMessage(err: Error): string {
  return `PostgreSQL connection lost: ${err.message}`;
}
