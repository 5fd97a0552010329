import type Database from 'better-sqlite3';
import { baseModelName } from '../../accounting/model-names.js';
import { SQLITE_REPRICE_ASSIGNMENT } from './sqlite-pricing.js';
import { rebuildSqliteRollup } from './migrations.js';

export interface ImportReport {
  backupPath: string;
  queries: number;
  prices: number;
  models: number;
  summary: string;
  warnings: string[];
}

const ORIGINAL_TABLES = ['query', 'cost', 'model'];

/** Epoch ms from the original's timestamp columns, whether Hibernate wrote integers or text. */
const epochMs = (col: string) =>
  `CASE WHEN typeof(${col}) IN ('integer', 'real') THEN CAST(${col} AS INTEGER)
        ELSE CAST(ROUND((julianday(${col}) - 2440587.5) * 86400000) AS INTEGER) END`;

/**
 * Brings the original Java proxy's history (tables user, model, query, cost,
 * ratelimit) into our schema, once, after a backup copy of the file. One
 * transaction: the file is either fully imported or untouched.
 */
export function importOriginalIfPresent(db: Database.Database, path: string, migrate: () => void): ImportReport | undefined {
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]).map((t) => t.toLowerCase()));
  if (!ORIGINAL_TABLES.every((t) => tables.has(t))) return undefined;
  if (tables.has('original_import')) return undefined;

  const backupPath = `${path}.before-import-${new Date().toISOString().replace(/[:.]/g, '-')}.bak`;
  db.prepare('VACUUM INTO ?').run(backupPath);
  migrate();

  const warnings: string[] = [];
  const duplicates = db.prepare('SELECT model_name, valid_from, COUNT(*) AS n FROM cost GROUP BY model_name, valid_from HAVING COUNT(*) > 1').all() as {
    model_name: string;
    valid_from: unknown;
    n: number;
  }[];
  for (const d of duplicates) {
    warnings.push(`original database: ${d.n} prices of ${d.model_name} share valid_from ${String(d.valid_from)}; kept the newest entry`);
  }

  const run = db.transaction(() => {
    db.exec('CREATE TABLE original_import (imported_at INTEGER NOT NULL, backup_path TEXT NOT NULL)');
    const models = db
      .prepare(`INSERT INTO models (name, first_seen) SELECT name, 0 FROM model WHERE name IS NOT NULL
      ON CONFLICT (name) DO NOTHING`)
      .run().changes;
    const prices = db
      .prepare(`INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query)
      SELECT model_name, 'admin', ${epochMs('valid_from')}, COALESCE(per1kquery_tokens, 0), COALESCE(per1kanswer_tokens, 0), NULL
      FROM cost WHERE id IN (SELECT MAX(id) FROM cost GROUP BY model_name, valid_from)
      ON CONFLICT (model, source, valid_from) DO NOTHING`)
      .run().changes;
    db.function('proxy_base_model', { deterministic: true }, (m: unknown) => baseModelName(String(m ?? '')));
    const queries = db
      .prepare(`INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome,
        duration_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
      SELECT ${epochMs('timestamp')}, COALESCE(user_name, ''), '/v1/chat/completions', model_name, COALESCE(model_name, ''),
        proxy_base_model(model_name), 200, 'ok', 0, COALESCE(query_tokens, 0), COALESCE(answer_tokens, 0), 0, 0, 0, 0, 0, 0
      FROM query ORDER BY id`)
      .run().changes;
    db.exec(`UPDATE queries SET ${SQLITE_REPRICE_ASSIGNMENT}`);
    rebuildSqliteRollup(db);
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND lower(name) = 'ratelimit'").get()) {
      db.prepare(`INSERT INTO rate_limits (kind, maximum, remaining, reset, observed_at)
        SELECT lower(type), maximum, remaining, ${epochMs('reset')}, 0 FROM ratelimit WHERE lower(type) IN ('requests', 'tokens')
        ON CONFLICT (kind) DO NOTHING`).run();
    }
    db.prepare('INSERT INTO original_import (imported_at, backup_path) VALUES (?, ?)').run(Date.now(), backupPath);
    return { models, prices, queries };
  });
  const counts = run();
  return {
    backupPath,
    ...counts,
    warnings,
    summary: `imported the original proxy's history: ${counts.queries} queries, ${counts.prices} prices, ${counts.models} models (backup: ${backupPath})`,
  };
}
