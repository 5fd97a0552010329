import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

/** Worker N's own journal (server.workers > 1): `queries.journal` -> `queries.journal.worker-N`. */
export function workerJournalPath(journalPath: string, worker: number): string {
  return `${journalPath}.worker-${worker}`;
}

/**
 * Journals beside `journalPath` that no running process will open: those of
 * workers numbered above `workers` (a proxy restarted with fewer of them),
 * and the single process's own journal when workers take over. Their calls
 * are replayed before the workers start.
 */
export function leftoverJournals(journalPath: string, workers: number): string[] {
  const dir = dirname(journalPath);
  const base = basename(journalPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const leftovers = names.flatMap((name) => {
    if (!name.startsWith(`${base}.worker-`)) return [];
    const n = name.slice(base.length + '.worker-'.length);
    return /^[1-9]\d*$/.test(n) && Number(n) > workers ? [join(dir, name)] : [];
  });
  if (workers > 0 && names.includes(base)) leftovers.unshift(journalPath);
  return leftovers.filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile() && statSync(path).size > 0);
}
