import type { Logger } from 'pino';
import { parseDatabaseUrl } from './database-url.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/** The store database.url names, schema created and migrated. */
export async function openStore(databaseUrl: string, log: Logger): Promise<Store> {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') {
    throw new Error('database.url names PostgreSQL, which this build does not support yet; use an SQLite file path');
  }
  return openSqliteStore({ path: target.path, log: { info: (m) => log.info(m), warn: (m) => log.warn(m) } });
}
