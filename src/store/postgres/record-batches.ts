import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RECORD_COLUMNS, pricedInsertSql, recordValues, type RecordColumn } from '../sql/insert-query-sql.js';
import { unitCostSql } from '../sql/pricing-sql.js';
import { upsertRateLimitsFrom } from '../sql/shared-statements.js';
import type { QueryRecord, RateLimitSnapshot, RecordedQuery } from '../types.js';
import { MIGRATION_LOCK, lockModelsSql } from './advisory-locks.js';
import { addToRollupSql } from './pg-rollup.js';
import { RECORD_COLUMN_TYPES } from './column-types.js';

/** More rows than this wait for the next batch: one statement's arrays stay small. */
const MAX_BATCH_ROWS = 500;
/**
 * Batches committing at once. Every batch that carries rate limits updates the same two rows, so batches commit
 * one after another anyway; a second one in flight sends its rows while the first waits for its commit.
 */
const MAX_BATCHES_IN_FLIGHT = 2;

const param = (column: RecordColumn) => `p_${column}`;
const RATE_LIMIT_PARAMS = ['p_rl_kinds text[]', 'p_rl_maximums bigint[]', 'p_rl_remainings bigint[]', 'p_rl_resets bigint[]', 'p_rl_observed_ats bigint[]'];

/**
 * One function call records a whole batch of queries in one transaction and
 * one round trip: the models' pricing locks (shared, in key order, before any
 * statement reads prices: in PL/pgSQL each statement takes a fresh snapshot,
 * so it sees a price committed while it waited for the lock), new model names,
 * the priced rows (a row replayed from the journal before is skipped), their
 * sums added to the usage rollup (pg-rollup.ts), and the newest rate-limit
 * reading, written last so its row locks are held shortest.
 * It returns each row's cost by its position in the batch.
 *
 * The body is generated from the shared insert and pricing SQL, so it cannot
 * drift from them; its name carries a hash of the body, so binaries of
 * different versions sharing a database during a rolling deploy each call
 * their own.
 */
function recordFunctionSql(): { name: string; create: string } {
  const rows = `unnest(${RECORD_COLUMNS.map(param).join(', ')}, p_journal_id) WITH ORDINALITY AS u(${RECORD_COLUMNS.join(', ')}, journal_id, ord)`;
  const cost = unitCostSql({
    model: 'u.model',
    baseModel: 'u.base_model',
    timestamp: 'u.ts',
    promptTokens: 'u.prompt_tokens',
    cachedTokens: 'u.cached_tokens',
    completionTokens: 'u.completion_tokens',
  });
  const body = `
BEGIN
  ${lockModelsSql('shared', 'p_model || p_base_model', 'PERFORM')};
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
    ${upsertRateLimitsFrom('SELECT * FROM unnest(p_rl_kinds, p_rl_maximums, p_rl_remainings, p_rl_resets, p_rl_observed_ats) ORDER BY 1')};
  END IF;
END`;
  const name = `oap_record_queries_${createHash('sha256').update(body).digest('hex').slice(0, 12)}`;
  const params = [...RECORD_COLUMNS.map((c) => `${param(c)} ${RECORD_COLUMN_TYPES[c]}[]`), 'p_journal_id text[]', ...RATE_LIMIT_PARAMS];
  return {
    name,
    create: `CREATE OR REPLACE FUNCTION ${name}(${params.join(', ')})
RETURNS TABLE (out_ord bigint, out_cost double precision, out_priced integer, out_skipped boolean)
LANGUAGE plpgsql AS $fn$${body}$fn$`,
  };
}

const RECORD_FUNCTION = recordFunctionSql();
const ARGUMENT_COUNT = RECORD_COLUMNS.length + 1 + RATE_LIMIT_PARAMS.length;
const CALL_SQL = `SELECT out_ord, out_cost, out_priced, out_skipped FROM ${RECORD_FUNCTION.name}(${Array.from({ length: ARGUMENT_COUNT }, (_, i) => `$${i + 1}`).join(', ')})`;

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
      await client.query(RECORD_FUNCTION.create);
    } catch (err) {
      throw new Error(
        `could not create the function ${RECORD_FUNCTION.name} the proxy records with (${(err as Error).message}); start this version once with a login that may create functions`,
      );
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', MIGRATION_LOCK);
  }
}

interface PendingRecord {
  query: QueryRecord;
  rateLimits?: RateLimitSnapshot;
  resolve: (recorded: RecordedQuery) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for PostgreSQL, as the SQLite store has it: the queries
 * recorded while a batch commits wait, and go together in the next one, in
 * one transaction and one round trip. Each call still resolves only once the
 * transaction holding its row has committed. A batch that fails is retried
 * row by row, so one bad row fails only its own call.
 */
export class BatchRecorder {
  private pending: PendingRecord[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly pool: pg.Pool) {}

  record(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    return new Promise((resolve, reject) => {
      this.pending.push({ query, rateLimits, resolve, reject });
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
      try {
        results = await this.commit(batch);
      } catch (err) {
        if (batch.length === 1) batch[0].reject(err);
      }
      if (results) for (const [i, p] of batch.entries()) p.resolve(results[i]);
      else if (batch.length > 1) {
        for (const p of batch) {
          try {
            p.resolve((await this.commit([p]))[0]);
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

  private async commit(batch: PendingRecord[]): Promise<RecordedQuery[]> {
    const values = batch.map((p) => recordValues(p.query));
    let newest: RateLimitSnapshot | undefined;
    for (const p of batch) if (p.rateLimits && (!newest || p.rateLimits.observedAt >= newest.observedAt)) newest = p.rateLimits;
    const windows = newest ? (['requests', 'tokens'] as const).flatMap((kind) => (newest[kind] ? [{ kind, ...newest[kind] }] : [])) : [];
    const { rows } = await this.pool.query<{ out_ord: number; out_cost: number; out_priced: number; out_skipped: boolean }>({
      name: 'oap_record_queries',
      text: CALL_SQL,
      values: [
        ...RECORD_COLUMNS.map((c) => values.map((v) => v[c])),
        batch.map((p) => p.query.journalId ?? null),
        windows.map((w) => w.kind),
        windows.map((w) => w.maximum),
        windows.map((w) => w.remaining),
        windows.map((w) => w.reset),
        windows.map(() => newest?.observedAt),
      ],
    });
    const recorded: RecordedQuery[] = new Array(batch.length);
    for (const r of rows) {
      // Skipped: this journal entry was replayed before, and is already counted.
      recorded[r.out_ord - 1] = r.out_skipped ? { cost: 0, priced: false } : { cost: r.out_cost, priced: r.out_priced === 1 };
    }
    for (let i = 0; i < batch.length; i++) if (!recorded[i]) throw new Error(`the record function gave no answer for row ${i + 1} of ${batch.length}`);
    return recorded;
  }
}
