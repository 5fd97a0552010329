import type Database from 'better-sqlite3';
import { addSqliteAccessTables } from '../access/access-schema.js';
import { rebuildRollupSteps } from '../sql/usage-rollup-sql.js';
import { SchemaTooNewError } from '../errors.js';
import { SQLITE_BILLING_DDL, nameFineTunedRows } from './billing-migration.js';

/**
 * A step is DDL, or a function for steps that need bound parameters. A step that adds rollup columns asks for the
 * rollup to be rebuilt from the rows: that runs once, after the last step, with this version's SQL (which names
 * every column, so it could not run between two such steps).
 */
type Migration = string | ((db: Database.Database) => void) | { ddl: string; rebuildsRollup: true };

/**
 * Additive migrations, applied in order at start-up. Never edit a released
 * step: add a new one, so old and new binaries can share a database.
 */
export const SQLITE_MIGRATIONS: Migration[] = [
  `CREATE TABLE queries (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     user_name TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     requested_model TEXT,
     model TEXT NOT NULL,
     base_model TEXT NOT NULL,
     status INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     duration_ms INTEGER NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     reasoning_tokens INTEGER NOT NULL,
     streamed INTEGER NOT NULL,
     estimated INTEGER NOT NULL,
     priced INTEGER NOT NULL,
     cost REAL NOT NULL
   );
   CREATE INDEX queries_ts ON queries (ts);
   CREATE INDEX queries_user_ts ON queries (user_name, ts);
   CREATE INDEX queries_model_ts ON queries (model, ts);
   CREATE INDEX queries_base_model_ts ON queries (base_model, ts);
   CREATE TABLE models (name TEXT PRIMARY KEY, first_seen INTEGER NOT NULL);
   CREATE TABLE prices (
     model TEXT NOT NULL,
     source TEXT NOT NULL,
     valid_from INTEGER NOT NULL,
     per1k_query REAL NOT NULL,
     per1k_answer REAL NOT NULL,
     per1k_cached_query REAL,
     PRIMARY KEY (model, source, valid_from)
   );
   CREATE TABLE rate_limits (
     kind TEXT PRIMARY KEY,
     maximum INTEGER,
     remaining INTEGER,
     reset INTEGER,
     observed_at INTEGER NOT NULL
   );`,
  // Journal replay stores each entry's id with its row, so an entry replayed twice is inserted once.
  `ALTER TABLE queries ADD COLUMN journal_id TEXT;
   CREATE UNIQUE INDEX queries_journal_id ON queries (journal_id) WHERE journal_id IS NOT NULL;`,
  // Usage rollups (see sql/usage-rollup-sql.ts). The step after this one fills them: the rebuild reads columns it adds.
  (db) => {
    db.exec(`CREATE TABLE usage_rollup (
       per_user INTEGER NOT NULL,
       user_name TEXT NOT NULL,
       span INTEGER NOT NULL,
       bucket INTEGER NOT NULL,
       model TEXT NOT NULL,
       base_model TEXT NOT NULL,
       endpoint TEXT NOT NULL,
       success INTEGER NOT NULL,
       num_queries INTEGER NOT NULL,
       prompt_tokens INTEGER NOT NULL,
       completion_tokens INTEGER NOT NULL,
       cached_tokens INTEGER NOT NULL,
       reasoning_tokens INTEGER NOT NULL,
       cost REAL NOT NULL,
       unpriced INTEGER NOT NULL,
       PRIMARY KEY (per_user, user_name, span, bucket, model, endpoint, success)
     ) WITHOUT ROWID;`);
    // Filled once every step has run (a step that changes the rollup's columns asks for it).
  },
  // Estimated calls counted in the rollups too, for /usage's estimatedQueries; older binaries' adds leave it at 0.
  { ddl: 'ALTER TABLE usage_rollup ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0', rebuildsRollup: true },
  // The latest rate-limit headers per answered model, for the dashboard (GET /ratelimits?by=model).
  `CREATE TABLE model_rate_limits (
     model TEXT NOT NULL,
     kind TEXT NOT NULL,
     maximum INTEGER,
     remaining INTEGER,
     reset INTEGER,
     observed_at INTEGER NOT NULL,
     PRIMARY KEY (model, kind)
   );`,
  // Re-prices still to finish (sqlite/sqlite-repricer.ts): written with the price, deleted with the last day range.
  `CREATE TABLE reprice_intents (
     id INTEGER PRIMARY KEY,
     model TEXT NOT NULL,
     from_ts INTEGER NOT NULL,
     until_ts INTEGER,
     next_day INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // Costs summed as whole nano-dollars (accounting/money.ts), so every read adds up exactly.
  { ddl: 'ALTER TABLE usage_rollup ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0', rebuildsRollup: true },
  // Keys, budgets and rate limits (src/store/access), and the key each query was made with.
  addSqliteAccessTables,
  // Everything OpenAI bills by (sql/billing-schema-sql.ts), then the base names of fine-tuned rows recorded before.
  { ddl: SQLITE_BILLING_DDL, rebuildsRollup: true },
  nameFineTunedRows,
];

export function rebuildSqliteRollup(db: Database.Database): void {
  for (const step of rebuildRollupSteps()) db.prepare(step.sql).run(step.params);
}

export function migrateSqlite(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS proxy_schema (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM proxy_schema').get() as { version: number } | undefined;
  const current = row?.version ?? 0;
  if (current > SQLITE_MIGRATIONS.length) {
    throw new SchemaTooNewError(`the database schema is version ${current}, newer than this proxy knows (${SQLITE_MIGRATIONS.length}); upgrade the proxy`);
  }
  const apply = db.transaction(() => {
    let rebuild = false;
    for (let v = current; v < SQLITE_MIGRATIONS.length; v++) {
      const step = SQLITE_MIGRATIONS[v];
      if (typeof step === 'string') db.exec(step);
      else if (typeof step === 'function') step(db);
      else {
        db.exec(step.ddl);
        rebuild = true;
      }
    }
    if (rebuild) rebuildSqliteRollup(db);
    if (row) db.prepare('UPDATE proxy_schema SET version = ?').run(SQLITE_MIGRATIONS.length);
    else db.prepare('INSERT INTO proxy_schema (version) VALUES (?)').run(SQLITE_MIGRATIONS.length);
  });
  // IMMEDIATE takes the write lock first, so two processes starting together don't both migrate.
  apply.immediate();
}
