import { parseDatabaseUrl } from '../database-url.js';

const FALLBACK = 'openai-queries.journal';

/**
 * Where the journal lives unless journal.path says otherwise: beside the
 * SQLite file (`queries.db` -> `queries.journal`; not SQLite's own
 * `queries.db-journal`), or in the working directory for PostgreSQL.
 */
export function defaultJournalPath(databaseUrl: string): string {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind !== 'sqlite' || target.path === ':memory:') return FALLBACK;
  return /\.(db|sqlite3?)$/i.test(target.path) ? target.path.replace(/\.(db|sqlite3?)$/i, '.journal') : `${target.path}.journal`;
}
