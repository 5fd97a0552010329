import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RECORD_COLUMNS, pricedInsertSql, recordValues, type RecordColumn } from '../sql/insert-query-sql.js';
import { unitCostSql } from '../sql/pricing-sql.js';
import { upsertModelRateLimitsFrom, upsertRateLimitsFrom } from '../sql/shared-statements.js';
import { CommitInDoubtError } from '../errors.js';
import type { QueryRecord, RateLimitSnapshot, RateLimitWindow, RecordedQuery } from '../types.js';
import { MIGRATION_LOCK, lockModelsSql } from './advisory-locks.js';
import { addToRollupSql } from './pg-rollup.js';
import { RECORD_COLUMN_TYPES } from './column-types.js';
import { runAndCommit } from './pipelined-commit.js';

/** More rows than this wait for the next batch: one statement's arrays stay small. */
const MAX_BATCH_ROWS = 500;
/**
 * Batches committing at once. Every batch that carries rate limits updates the same two overall rows, so batches
 * commit one after another anyway; a second one in flight sends its rows while the first waits for its commit.
 */
const MAX_BATCHES_IN_FLIGHT = 2;

/** The connections recording needs: one per batch in flight. */
export const RECORDING_CONNECTIONS = MAX_BATCHES_IN_FLIGHT;

const param = (column: RecordColumn) => `p_${column}`;
const RATE_LIMIT_PARAMS = [
  'p_rl_models text[]',
  'p_rl_kinds text[]',
  'p_rl_maximums bigint[]',
  'p_rl_remainings bigint[]',
  'p_rl_resets bigint[]',
  'p_rl_observed_ats bigint[]',
];

/**
 * One function call records a whole batch of queries in one statement: the
 * models' pricing locks (shared, in key order, before any statement reads
 * prices: in PL/pgSQL each statement takes a fresh snapshot,
 * so it sees a price committed while it waited for the lock), new model names,
 * the priced rows (a row replayed from the journal before is skipped), their
 * sums added to the usage rollup (pg-rollup.ts), and the newest rate-limit
 * readings, per answered model and overall (newest per kind), written last so
 * their row locks are held shortest. It returns each row's cost by its
 * position in the batch.
 *
 * The body is generated from the shared insert and pricing SQL, so it cannot
 * drift from them; its name carries a hash of the body and settings, so
 * binaries of different versions sharing a database during a rolling deploy
 * each call their own.
 *
 * Generic plans: left to choose, PostgreSQL plans the statements afresh for
 * every small batch (a custom plan looks cheaper for a few rows), which cost
 * about three times the CPU of recording one row; the generic plan is the same
 * index lookups and serves every batch size.
 */
function recordFunctionSql(): { name: string; create: (serverVersion: number) => string } {
  const rows = `unnest(${RECORD_COLUMNS.map(param).join(', ')}, p_journal_id) WITH ORDINALITY AS u(${RECORD_COLUMNS.join(', ')}, journal_id, ord)`;
  const cost = unitCostSql((c) => `u.${c}`);
  const body = `
BEGIN
  ${lockModelsSql('shared', 'p_model || p_base_model || p_ft_base_model', 'PERFORM')};
  INSERT INTO models (name, first_seen)
    SELECT m, min(t) FROM unnest(p_model, p_ts) AS n(m, t) WHERE m <> '' GROUP BY m ORDER BY m
    ON CONFLICT (name) DO NOTHING;
  RETURN QUERY
    WITH inserted AS (${pricedInsertSql((c) => `u.${c}`, rows, 'u.journal_id')} RETURNING *),
    rolled_up AS (${addToRollupSql('inserted')})
    SELECT r.ord, COALESCE(r.v, 0)::double precision, CASE WHEN r.v IS NULL THEN 0 ELSE 1 END,
           r.journal_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM inserted i WHERE i.journal_id = r.journal_id)
    FROM (SELECT u.ord, u.journal_id, ${cost} AS v FROM ${rows}) r;
  IF cardinality(p_rl_kinds) > 0 THEN
    ${upsertModelRateLimitsFrom('SELECT * FROM unnest(p_rl_models, p_rl_kinds, p_rl_maximums, p_rl_remainings, p_rl_resets, p_rl_observed_ats) ORDER BY 1, 2')};
    ${upsertRateLimitsFrom(
      `SELECT DISTINCT ON (k) k, mx, rm, rs, ob FROM unnest(p_rl_kinds, p_rl_maximums, p_rl_remainings, p_rl_resets, p_rl_observed_ats)
         AS l(k, mx, rm, rs, ob) ORDER BY k, ob DESC`,
    )};
  END IF;
END`;
  const settings = `SET plan_cache_mode = force_generic_plan`;
  const name = `oap_record_queries_${createHash('sha256').update(settings).update(body).digest('hex').slice(0, 12)}`;
  const params = [...RECORD_COLUMNS.map((c) => `${param(c)} ${RECORD_COLUMN_TYPES[c]}[]`), 'p_journal_id text[]', ...RATE_LIMIT_PARAMS];
  return {
    name,
    // plan_cache_mode is PostgreSQL 12's; on 11 the function plans as it always did.
    create: (serverVersion) => `CREATE OR REPLACE FUNCTION ${name}(${params.join(', ')})
RETURNS TABLE (out_ord bigint, out_cost double precision, out_priced integer, out_skipped boolean)
LANGUAGE plpgsql ${serverVersion >= 120000 ? settings : ''} AS $fn$${body}$fn$`,
  };
}

const RECORD_FUNCTION = recordFunctionSql();
const ARGUMENT_COUNT = RECORD_COLUMNS.length + 1 + RATE_LIMIT_PARAMS.length;
const CALL_SQL = `SELECT out_ord, out_cost, out_priced, out_skipped
  FROM ${RECORD_FUNCTION.name}(${Array.from({ length: ARGUMENT_COUNT }, (_, i) => `$${i + 1}`).join(', ')})`;

/**
 * Creates this version's record function unless it exists; under the migration lock, so instances starting
 * together take turns. A login that may not create functions works once one that may has started this version.
 */
export async function installRecordFunction(client: pg.ClientBase): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1, $2)', MIGRATION_LOCK);
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_proc WHERE proname = $1 AND pg_function_is_visible(oid)', [RECORD_FUNCTION.name]);
    if (rowCount) return;
    try {
      const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
      await client.query(RECORD_FUNCTION.create(Number(rows[0].v)));
    } catch (err) {
      throw new Error(
        `could not create the function ${RECORD_FUNCTION.name} the proxy records with (${(err as Error).message}); start this version once with a login that may create functions`,
      );
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', MIGRATION_LOCK);
  }
}

/** One call to record: live (no journal id) or replayed from the journal. */
export interface RecordRow {
  query: QueryRecord;
  journalId?: string;
  rateLimits?: RateLimitSnapshot;
}

interface RateLimitRow extends RateLimitWindow {
  model: string;
  kind: 'requests' | 'tokens';
  observedAt: number;
}

/** The newest reading per answered model and kind: one statement may not update a row twice. */
function newestRateLimits(rows: RecordRow[]): RateLimitRow[] {
  const newest = new Map<string, RateLimitRow>();
  for (const { query, rateLimits } of rows) {
    if (!rateLimits) continue;
    for (const kind of ['requests', 'tokens'] as const) {
      const window = rateLimits[kind];
      const key = `${query.model}\u0000${kind}`;
      if (window && (newest.get(key)?.observedAt ?? -Infinity) <= rateLimits.observedAt) {
        newest.set(key, { model: query.model, kind, ...window, observedAt: rateLimits.observedAt });
      }
    }
  }
  return [...newest.values()];
}

/**
 * Records `rows` in one transaction: BEGIN, the transaction's id and the
 * record function sent together, COMMIT once the id is back
 * (pipelined-commit.ts). If the connection breaks once the COMMIT has left,
 * the server may have committed or not, and the
 * CommitInDoubtError thrown then carries the transaction's id, which the
 * journal's replay asks the server about before writing these calls again.
 * `pool` is a pipelining pool.
 */
export async function recordRows(pool: pg.Pool, rows: RecordRow[]): Promise<RecordedQuery[]> {
  const values = rows.map((r) => recordValues(r.query));
  const limits = newestRateLimits(rows);
  const result = await runAndCommit<{ out_ord: number; out_cost: number; out_priced: number; out_skipped: boolean }>(
    pool,
    {
      name: 'oap_record_queries',
      text: CALL_SQL,
      values: [
        ...RECORD_COLUMNS.map((c) => values.map((v) => v[c])),
        rows.map((r) => r.journalId ?? null),
        limits.map((l) => l.model),
        limits.map((l) => l.kind),
        limits.map((l) => l.maximum),
        limits.map((l) => l.remaining),
        limits.map((l) => l.reset),
        limits.map((l) => l.observedAt),
      ],
    },
    (txid, err) => new CommitInDoubtError(txid, err),
  );
  const recorded: RecordedQuery[] = new Array(rows.length);
  for (const r of result) {
    // Skipped: this journal entry was replayed before, and is already counted.
    recorded[r.out_ord - 1] = r.out_skipped ? { cost: 0, priced: false } : { cost: r.out_cost, priced: r.out_priced === 1 };
  }
  for (let i = 0; i < rows.length; i++) if (!recorded[i]) throw new Error(`the record function gave no answer for row ${i + 1} of ${rows.length}`);
  return recorded;
}

interface PendingRecord extends RecordRow {
  resolve: (recorded: RecordedQuery) => void;
  reject: (err: unknown) => void;
}

/**
 * Whether a failed batch is worth retrying row by row: the server refused
 * something in it (a bad value, a constraint). A broken connection or a
 * server going away fails every row alike, and a COMMIT in doubt must not be
 * repeated (its rows may be in the table): the calls go to the journal at once.
 */
function retryRowByRow(err: unknown): boolean {
  if (err instanceof CommitInDoubtError) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !['08', '53', '57', '58'].includes(code.slice(0, 2));
}

/**
 * Group commit for PostgreSQL, as the SQLite store has it: the queries
 * recorded while a batch commits wait, and go together in the next one, in
 * one transaction. Each call still resolves only once the transaction holding
 * its row has committed. A batch the server refuses is retried row by row, so
 * one bad row fails only its own call.
 */
export class BatchRecorder {
  private pending: PendingRecord[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly pool: pg.Pool) {}

  record(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    return new Promise((resolve, reject) => {
      this.pending.push({ query, journalId: query.journalId, rateLimits, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every query handed over so far is committed or has failed. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** The next batch starts at the next turn of the event loop, so the calls finishing in this one join it. */
  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_BATCHES_IN_FLIGHT || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commitNext();
    });
  }

  private async commitNext(): Promise<void> {
    const batch = this.pending.splice(0, MAX_BATCH_ROWS);
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      let results: RecordedQuery[] | undefined;
      let oneByOne = false;
      try {
        results = await recordRows(this.pool, batch);
      } catch (err) {
        oneByOne = batch.length > 1 && retryRowByRow(err);
        if (!oneByOne) for (const p of batch) p.reject(err);
        // The connection broke: the calls still waiting would most likely wait for a database that is gone (or for
        // locks of sessions it ended), so they go to the journal now too. Not as in doubt: they were never sent.
        if (!retryRowByRow(err)) for (const p of this.pending.splice(0)) p.reject(err instanceof CommitInDoubtError ? err.cause : err);
      }
      if (results) for (const [i, p] of batch.entries()) p.resolve(results[i]);
      else if (oneByOne) {
        for (const p of batch) {
          try {
            p.resolve((await recordRows(this.pool, [p]))[0]);
          } catch (err) {
            p.reject(err);
          }
        }
      }
    } finally {
      this.inFlight--;
      this.schedule();
      if (this.pending.length === 0 && this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }
}
