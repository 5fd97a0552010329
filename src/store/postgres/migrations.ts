import type pg from 'pg';
import { POSTGRES_ACCESS_TABLES } from '../access/access-schema.js';
import { SchemaTooNewError } from '../errors.js';
import { MIGRATION_LOCK } from './advisory-locks.js';
import { POSTGRES_FINE_TUNED_NAMES, billingSchemaSql } from '../sql/billing-schema-sql.js';
import { CREATE_ROLLUP_TABLE, rebuildRollup } from './pg-rollup.js';

/** SQL, or work on the migrating connection (inside the migration's transaction) for a step that needs parameters. */
type MigrationStep = string | ((client: pg.ClientBase) => Promise<void>);

/**
 * Additive migrations, applied in order at start-up. Never edit a released
 * step: add a new one, so old and new binaries can share a database during a
 * rolling deploy. Same tables and columns as the SQLite schema, so the shared
 * SQL in src/store/sql runs on both: BIGINT epoch milliseconds, DOUBLE
 * PRECISION prices and costs, SMALLINT 0/1 flags.
 */
export const POSTGRES_MIGRATIONS: MigrationStep[] = [
  `CREATE TABLE queries (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     ts BIGINT NOT NULL,
     user_name TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     requested_model TEXT,
     model TEXT NOT NULL,
     base_model TEXT NOT NULL,
     status INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     duration_ms BIGINT NOT NULL,
     prompt_tokens BIGINT NOT NULL,
     completion_tokens BIGINT NOT NULL,
     cached_tokens BIGINT NOT NULL,
     reasoning_tokens BIGINT NOT NULL,
     streamed SMALLINT NOT NULL,
     estimated SMALLINT NOT NULL,
     priced SMALLINT NOT NULL,
     cost DOUBLE PRECISION NOT NULL
   );
   CREATE INDEX queries_ts ON queries (ts, id);
   CREATE INDEX queries_user_ts ON queries (user_name, ts);
   CREATE INDEX queries_model_ts ON queries (model, ts);
   CREATE INDEX queries_base_model_ts ON queries (base_model, ts);
   CREATE TABLE models (name TEXT PRIMARY KEY, first_seen BIGINT NOT NULL);
   CREATE TABLE prices (
     model TEXT NOT NULL,
     source TEXT NOT NULL,
     valid_from BIGINT NOT NULL,
     per1k_query DOUBLE PRECISION NOT NULL,
     per1k_answer DOUBLE PRECISION NOT NULL,
     per1k_cached_query DOUBLE PRECISION,
     PRIMARY KEY (model, source, valid_from)
   );
   CREATE TABLE rate_limits (
     kind TEXT PRIMARY KEY,
     maximum BIGINT,
     remaining BIGINT,
     reset BIGINT,
     observed_at BIGINT NOT NULL
   );`,
  // Journal replays (src/store/journal): a replayed entry carries its id, and is skipped if it is already here.
  `ALTER TABLE queries ADD COLUMN journal_id TEXT;
   CREATE UNIQUE INDEX queries_journal_id ON queries (journal_id) WHERE journal_id IS NOT NULL;`,
  // The latest rate-limit headers per answered model, for the dashboard (GET /ratelimits?by=model).
  `CREATE TABLE model_rate_limits (
     model TEXT NOT NULL,
     kind TEXT NOT NULL,
     maximum BIGINT,
     remaining BIGINT,
     reset BIGINT,
     observed_at BIGINT NOT NULL,
     PRIMARY KEY (model, kind)
   );`,
  // Re-prices still to finish (postgres/repricer.ts): written with the price, deleted with the last window.
  `CREATE TABLE reprice_intents (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     model TEXT NOT NULL,
     from_ts BIGINT NOT NULL,
     until_ts BIGINT,
     next_id BIGINT NOT NULL,
     last_id BIGINT NOT NULL,
     created_at BIGINT NOT NULL
   );`,
  // Keys, budgets and rate limits (src/store/access), and the key each query was made with.
  POSTGRES_ACCESS_TABLES,
  // Everything OpenAI bills by (sql/billing-schema-sql.ts); rows of fine-tuned models get their base names.
  `${billingSchemaSql('postgres').join(';\n')};\n${POSTGRES_FINE_TUNED_NAMES}`,
  // Usage rollups (see pg-rollup.ts), filled from the rows already there.
  async (client) => {
    await client.query(CREATE_ROLLUP_TABLE);
    await rebuildRollup(client);
  },
];

/**
 * Brings the schema up to date. A session-level advisory lock makes
 * instances that start at the same moment take turns: the first migrates,
 * the others find the work done.
 */
export async function migratePostgres(client: pg.ClientBase, steps: MigrationStep[] = POSTGRES_MIGRATIONS): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1, $2)', MIGRATION_LOCK);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS proxy_schema (version INTEGER NOT NULL)');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM proxy_schema');
    const current = rows[0]?.version ?? 0;
    if (current > steps.length) {
      throw new SchemaTooNewError(`the database schema is version ${current}, newer than this proxy knows (${steps.length}); upgrade the proxy`);
    }
    if (current === steps.length && rows.length > 0) return current;
    await client.query('BEGIN');
    try {
      for (let v = current; v < steps.length; v++) {
        const step = steps[v];
        if (typeof step === 'string') await client.query(step);
        else await step(client);
      }
      if (rows.length > 0) await client.query('UPDATE proxy_schema SET version = $1', [steps.length]);
      else await client.query('INSERT INTO proxy_schema (version) VALUES ($1)', [steps.length]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
    return steps.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', MIGRATION_LOCK);
  }
}
