import pg from 'pg';
import { MODEL_LOCK_CLASS } from '../../src/store/postgres/advisory-locks.js';

/**
 * A session of the test's own on a test database, playing the administrator
 * (or the failing server) in fault tests: it holds a model's pricing lock so
 * the proxy's writes wait with their connections checked out, and ends the
 * proxy's sessions as a failover or pg_terminate_backend would.
 */
export class DatabaseSession {
  private constructor(
    private readonly client: pg.Client,
    readonly databaseName: string,
  ) {}

  static async open(url: string): Promise<DatabaseSession> {
    const client = new pg.Client({ connectionString: url });
    // This session is never the one terminated, but a test must not die of it if the server goes.
    client.on('error', () => undefined);
    await client.connect();
    return new DatabaseSession(client, new URL(url).pathname.slice(1));
  }

  /** Takes the pricing lock of `model` exclusively: inserts of that model wait until release. */
  async holdModelLock(model: string): Promise<void> {
    await this.client.query('SELECT pg_advisory_lock($1, hashtext($2))', [MODEL_LOCK_CLASS, model]);
  }

  async releaseModelLock(model: string): Promise<void> {
    await this.client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MODEL_LOCK_CLASS, model]);
  }

  /** Other sessions on this database waiting for an advisory lock. */
  async waitingForLocks(): Promise<number> {
    const { rows } = await this.client.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
    );
    return rows[0].n;
  }

  /** Ends every other session on this database (error 57P01, as when the server shuts down); returns how many. */
  async terminateOthers(): Promise<number> {
    const { rows } = await this.client.query<{ n: number }>(
      `SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return rows[0].n;
  }

  async query<R extends pg.QueryResultRow = Record<string, any>>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(text, values)).rows;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** Polls `check` every 20 ms until it holds, failing with `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting until ${what}`);
}
