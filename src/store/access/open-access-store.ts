import { parseDatabaseUrl } from '../database-url.js';
import { openPostgresAccessStore } from './pg-access-store.js';
import { openSqliteAccessStore } from './sqlite-access-store.js';
import type { AccessStore } from './types.js';

/** The access store on the database database.url names; open it after the ledger store, which migrates the schema. */
export function openAccessStore(databaseUrl: string, opts: { poolSize: number; onIdleError?: (message: string) => void }): AccessStore {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') return openPostgresAccessStore(target.url, opts.poolSize, opts.onIdleError);
  return openSqliteAccessStore(target.path);
}
