/**
 * The tables of keys, budgets and rate limits, one migration step each for
 * SQLite and PostgreSQL (appended to their migration lists). Money is a
 * double, as the queries table's cost; times are epoch milliseconds. Every
 * statement may run twice (IF NOT EXISTS): a step found half-applied, or a
 * schema version set back by hand, is completed rather than refused.
 */
const tables = (t: { bigint: string; double: string }) => `
   CREATE INDEX IF NOT EXISTS queries_key_ts ON queries (key_id, ts) WHERE key_id IS NOT NULL;
   CREATE TABLE IF NOT EXISTS api_keys (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     user_name TEXT NOT NULL,
     name TEXT,
     created_at ${t.bigint} NOT NULL,
     expires_at ${t.bigint},
     revoked_at ${t.bigint},
     models TEXT
   );
   CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_name, created_at);
   CREATE TABLE IF NOT EXISTS budgets (
     scope TEXT NOT NULL,
     subject TEXT NOT NULL,
     usd ${t.double} NOT NULL,
     period TEXT NOT NULL,
     PRIMARY KEY (scope, subject)
   );
   CREATE TABLE IF NOT EXISTS budget_spend (
     scope TEXT NOT NULL,
     subject TEXT NOT NULL,
     period_start ${t.bigint} NOT NULL,
     period_end ${t.bigint} NOT NULL,
     spent ${t.double} NOT NULL,
     PRIMARY KEY (scope, subject, period_start, period_end)
   );
   CREATE TABLE IF NOT EXISTS budget_holds (
     hold_id TEXT NOT NULL,
     scope TEXT NOT NULL,
     subject TEXT NOT NULL,
     period_start ${t.bigint} NOT NULL,
     usd ${t.double} NOT NULL,
     expires_at ${t.bigint} NOT NULL,
     PRIMARY KEY (hold_id, scope, subject)
   );
   CREATE INDEX IF NOT EXISTS budget_holds_subject ON budget_holds (scope, subject, period_start);
   CREATE TABLE IF NOT EXISTS caller_limits (
     scope TEXT NOT NULL,
     subject TEXT NOT NULL,
     rpm ${t.bigint},
     tpm ${t.bigint},
     PRIMARY KEY (scope, subject)
   );
   CREATE TABLE IF NOT EXISTS rate_windows (
     scope TEXT NOT NULL,
     subject TEXT NOT NULL,
     window_start ${t.bigint} NOT NULL,
     requests ${t.bigint} NOT NULL,
     tokens ${t.bigint} NOT NULL,
     PRIMARY KEY (scope, subject, window_start)
   );`;

/** SQLite has no ADD COLUMN IF NOT EXISTS: the column is looked for first. */
export function addSqliteAccessTables(db: { exec(sql: string): unknown; prepare(sql: string): { all(): unknown[] } }): void {
  const columns = db.prepare('PRAGMA table_info(queries)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'key_id')) db.exec('ALTER TABLE queries ADD COLUMN key_id TEXT');
  db.exec(tables({ bigint: 'INTEGER', double: 'REAL' }));
}

export const POSTGRES_ACCESS_TABLES = `ALTER TABLE queries ADD COLUMN IF NOT EXISTS key_id TEXT;
${tables({ bigint: 'BIGINT', double: 'DOUBLE PRECISION' })}`;
