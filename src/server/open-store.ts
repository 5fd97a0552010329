import type { Logger } from 'pino';
import { parseDatabaseUrl } from '../store/database-url.js';
import { openPostgresStore } from '../store/postgres/pg-store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';

export interface StoreOptions {
  /** PostgreSQL connections this instance may hold. */
  poolSize?: number;
}

/**
 * The store database.url names, schema created and migrated. A PostgreSQL server that cannot be reached does not stop
 * the proxy: the store migrates once it answers, and the journal keeps the calls meanwhile.
 */
export async function openStore(databaseUrl: string, log: Logger, opts: StoreOptions = {}): Promise<Store> {
  const target = parseDatabaseUrl(databaseUrl);
  const storeLog = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
  if (target.kind === 'postgres') return openPostgresStore({ url: target.url, poolSize: opts.poolSize, log: storeLog, whenUnreachable: 'start' });
  return openSqliteStore({ path: target.path, log: storeLog });
}
