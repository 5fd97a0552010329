import { maskUrlPassword } from '../../config/shown-value.js';
import pg from 'pg';
import { handleConnectionErrors } from './connection-errors.js';
import { withSessionSettings } from './connection-settings.js';

export interface PoolOptions {
  /** postgres:// or postgresql:// URL in any form libpq accepts (password, ?sslmode=, ?options=, ?host=/socket/dir). */
  url: string;
  max?: number;
  /** A connection broke (server restart, failover, pg_terminate_backend); the statement on it, if any, failed. */
  onConnectionLost?: (message: string) => void;
  /** Send each query without waiting for the answer to the one before (pg's pipeline mode): for pipelined-commit.ts. */
  pipeline?: boolean;
}

// BIGINT (epoch ms, ids, counts) as JS numbers: every value the proxy stores is far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** A pooled connection to the database the URL names. */
export function createPool({ url, max = 10, onConnectionLost, pipeline = false }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...withSessionSettings(url),
    max,
    pipeline,
    types,
    application_name: 'openai-api-proxy',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  handleConnectionErrors(pool, (message) => onConnectionLost?.(message));
  return pool;
}

/** Connection failures in words an operator can act on, without the password. */
export function describeConnectError(url: string, err: unknown): string {
  const e = err as { code?: string; message?: string };
  const detail = e.message && e.message.length > 0 ? e.message : (e.code ?? String(err));
  return `could not connect to PostgreSQL at ${maskUrlPassword(url)}: ${detail}`;
}
