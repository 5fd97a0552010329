import type pg from 'pg';
import { SchemaTooNewError } from '../errors.js';
import { migratePostgres } from './migrations.js';
import { describeConnectError } from './pg-pool.js';
import { installRecordFunction } from './record-batches.js';

/**
 * The schema (and this version's record function) brought up to date the first time the database can be reached,
 * so that an instance starting during an outage (a failover, a restart of the
 * server) runs at once and migrates when the database returns. Until then
 * every use of the database fails, as it would anyway, and the caller (the
 * journal) keeps what it must.
 */
export class SchemaGate {
  private current = false;
  private attempt?: Promise<void>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  /** True once the migrations have run: the hot path checks this flag before awaiting anything. */
  get ready(): boolean {
    return this.current;
  }

  /** Runs the migrations unless done; concurrent callers share one attempt, and a failed one is retried by the next caller. */
  ensure(): Promise<void> {
    if (this.current) return Promise.resolve();
    this.attempt ??= this.migrate().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  private async migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new DatabaseUnreachableError(describeConnectError(this.url, err), err);
    }
    try {
      await migratePostgres(client);
      await installRecordFunction(client);
    } catch (err) {
      client.release(true);
      throw err;
    }
    client.release();
    this.current = true;
  }
}

class DatabaseUnreachableError extends Error {
  constructor(
    message: string,
    readonly cause: unknown,
  ) {
    super(message);
    this.name = 'DatabaseUnreachableError';
  }
}

/**
 * Whether a failure at start-up is worth waiting out (the server is down,
 * starting, failing over, out of connections) or a mistake to report at once
 * (a schema newer than this binary, a refused password, no such database).
 */
export function isOutage(err: unknown): boolean {
  if (err instanceof SchemaTooNewError) return false;
  const code = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
  if (typeof code !== 'string') return true;
  // 28xxx: invalid authorization; 3D000: no such database.
  return !(code.startsWith('28') || code === '3D000');
}
