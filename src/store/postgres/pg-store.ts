import type pg from 'pg';
import type { RateLimitSnapshot } from '../types.js';
import { BATCHES_SQL, toDueBatch } from '../sql/batches-sql.js';
import { usageSql } from '../sql/usage-rollup-sql.js';
import { pagedQueries } from '../sql/paged-queries.js';
import { groupPrices, modelsWithPrices, toModelRateLimits, toUsage } from '../sql/rows.js';
import {
  ALL_PRICES,
  CATALOG_PRICES,
  DELETE_CATALOG_PRICES,
  INSERT_MODEL as INSERT_MODEL_SQL,
  MODEL_NAMES,
  PRICES_OF_MODEL,
  priceParams,
  priceStatements,
} from '../sql/shared-statements.js';
import { baseModelName } from '../../accounting/model-names.js';
import type { ModelPrices, Price, PriceSource } from '../../accounting/price.js';
import type {
  BatchJob,
  DueBatch,
  JournaledRecord,
  Page,
  QueryFilter,
  QueryRecord,
  QueryRow,
  RecordedQuery,
  Store,
  StoredRateLimits,
  UsageGroup,
  UsageGrouping,
  UsageSummary,
} from '../types.js';
import { readUsageGroups } from '../sql/grouped-usage-read.js';
import { LOCK_MODELS_EXCLUSIVE, LOCK_REPRICE } from './advisory-locks.js';
import { PostgresAccessStore } from './pg-access-store.js';
import type { AccessStore } from '../access-types.js';
import { changedCatalogModels } from '../sql/catalog-changes.js';
import { insertJournaled } from './journal-replay.js';
import { createPool } from './pg-pool.js';
import { PostgresRepricer, type RepriceOptions } from './repricer.js';
import { SchemaGate, isOutage } from './schema-gate.js';
import { BatchRecorder, RECORDING_CONNECTIONS } from './record-batches.js';
import { recomputeWholeModelRollup } from './pg-rollup.js';
import { REPRICE_ASSIGNMENT } from '../sql/pricing-sql.js';
import { Statement, inTransaction, runNamed } from './statements.js';
import { errorText } from '../../common/error-text.js';

const REPRICE: RepriceOptions = { window: 20_000 };
/** How often an instance looks for re-prices another one left unfinished (it also looks at start-up). */
const SWEEP_MS = 60_000;

export interface PostgresStoreOptions {
  url: string;
  poolSize?: number;
  log?: { warn: (msg: string) => void; info: (msg: string) => void };
  reprice?: RepriceOptions;
  /**
   * 'start': when the server cannot be reached (down, restarting, failing over), open anyway and migrate once it
   * answers (the proxy, whose journal keeps the calls meanwhile). 'fail' (migrate-data): report it at once.
   */
  whenUnreachable?: 'start' | 'fail';
}

/** PostgreSQL behind the Store interface: the schema migrated under an advisory lock, then a pooled store. */
export async function openPostgresStore({ url, poolSize, log, reprice = REPRICE, whenUnreachable = 'fail' }: PostgresStoreOptions): Promise<Store> {
  const pool = createPool({ url, max: poolSize, onConnectionLost: (m) => log?.warn(m) });
  const schema = new SchemaGate(pool, url);
  try {
    await schema.ensure();
  } catch (err) {
    if (whenUnreachable === 'fail' || !isOutage(err)) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    log?.warn(`${errorText(err)}; starting anyway, the schema is brought up to date once the database answers`);
  }
  // Recording's own connections, one per batch in flight: pipelining (pipelined-commit.ts), and never queued behind reads.
  const recording = createPool({ url, max: RECORDING_CONNECTIONS, pipeline: true, onConnectionLost: (m) => log?.warn(m) });
  return new PostgresStore(pool, recording, schema, reprice, log);
}

const LOCK_EXCLUSIVE = new Statement('oap_lock_models_exclusive', LOCK_MODELS_EXCLUSIVE);

const INSERT_MODEL = new Statement('oap_insert_model', INSERT_MODEL_SQL);
class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly access: AccessStore;
  private readonly recorder: BatchRecorder;
  private readonly repricer: PostgresRepricer;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly pool: pg.Pool,
    private readonly recording: pg.Pool,
    private readonly schema: SchemaGate,
    reprice: RepriceOptions,
    private readonly log?: PostgresStoreOptions['log'],
  ) {
    this.access = new PostgresAccessStore(pool);
    this.recorder = new BatchRecorder(recording);
    this.repricer = new PostgresRepricer(pool, reprice);
    // Another instance may die half way through a re-price; whichever instance looks next finishes it.
    this.sweep = setInterval(() => {
      if (this.schema.ready) this.resumeRepricing().catch(() => undefined);
    }, SWEEP_MS);
    this.sweep.unref();
  }

  async catchUp(): Promise<void> {
    await this.schema.ensure();
    await this.resumeRepricing();
  }

  private async resumeRepricing(): Promise<void> {
    const resumed = await this.repricer.resumeAbandoned();
    if (resumed > 0) this.log?.info(`finished ${resumed} re-price(s) an earlier run left unfinished`);
  }

  /** Resolves at once on the hot path; migrates first when the store was opened during an outage. */
  private ready(): Promise<void> | undefined {
    return this.schema.ready ? undefined : this.schema.ensure();
  }

  /**
   * The hot path's one write, grouped with the other calls recorded meanwhile
   * (record-batches.ts): one transaction per batch, with the pricing locks, the
   * priced rows, their rollup sums and the rate limits. Resolves only after
   * COMMIT, so the row is durable before the answer's last bytes go out; a
   * COMMIT that went unanswered rejects with CommitInDoubtError.
   */
  recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    const waiting = this.ready();
    if (!waiting) return this.recorder.record(query, rateLimits);
    return waiting.then(() => this.recorder.record(query, rateLimits));
  }

  async recordJournaled(entries: JournaledRecord[]): Promise<void> {
    await this.ready();
    await insertJournaled(this.recording, entries);
  }

  /**
   * Stores the price and the intent to re-price the rows it covers in one
   * short transaction that holds the model's lock exclusively (an insert of
   * the model either committed before, and is re-priced, or waits these few
   * milliseconds and reads the new price), then re-prices them.
   */
  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    await this.ready();
    const intent = await inTransaction(this.pool, async (client) => {
      await LOCK_EXCLUSIVE.run(client, { models: [model] });
      const statements = priceStatements(price);
      const params = priceParams(model, source, price);
      await runNamed(client, statements.upsert, params);
      await INSERT_MODEL.run(client, { name: model, first_seen: Date.now() });
      const { rows } = await runNamed<{ v: number | null }>(client, statements.nextFrom, params);
      return this.repricer.recordIntent(client, model, price.validFrom, rows[0].v);
    });
    await this.repricer.finish(intent);
  }

  async replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    await this.ready();
    // One transaction with the re-pricing, as in SQLite: a crash cannot leave new catalog prices beside rows
    // priced by the old ones, which a restart (seeing no change) would never mend. Instances starting together
    // serialise on the models' locks; the second finds nothing changed.
    await inTransaction(this.pool, async (client) => {
      const { rows: stored } = await client.query(CATALOG_PRICES);
      const models = [...new Set([...stored.map((r) => r.model as string), ...prices.keys()])];
      // Re-pricing locks before pricing locks, in the order a re-price window takes them, so the two cannot deadlock.
      await runNamed(client, LOCK_REPRICE, { models: models.map(baseModelName) });
      await LOCK_EXCLUSIVE.run(client, { models });
      const { rows: current } = await client.query(CATALOG_PRICES);
      const changed = changedCatalogModels(current, prices);
      if (changed.length === 0) return;
      for (const model of changed) {
        for (const sql of DELETE_CATALOG_PRICES) await runNamed(client, sql, { model });
        // One statement per price: a few hundred at start-up, and only for the models whose prices changed.
        for (const p of prices.get(model) ?? []) await runNamed(client, priceStatements(p).insert, priceParams(model, 'catalog', p));
      }
      await runNamed(
        client,
        `UPDATE queries SET ${REPRICE_ASSIGNMENT}
         WHERE model = ANY(@models::text[]) OR base_model = ANY(@models::text[]) OR ft_base_model = ANY(@models::text[])`,
        { models: changed },
      );
      // Under the models' locks, held exclusively since the start of this transaction.
      for (const model of changed) await recomputeWholeModelRollup(client, model);
    });
  }

  async getModel(name: string): Promise<ModelPrices | undefined> {
    await this.ready();
    const [known, prices] = await Promise.all([
      this.pool.query('SELECT 1 FROM models WHERE name = $1', [name]),
      runNamed(this.pool, PRICES_OF_MODEL, { model: name }),
    ]);
    if (known.rowCount === 0 && prices.rows.length === 0) return undefined;
    return groupPrices(name, prices.rows);
  }

  async listModels(): Promise<ModelPrices[]> {
    await this.ready();
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const [names, all] = await Promise.all([
      this.pool.query<{ name: string }>(`SELECT name FROM (${MODEL_NAMES}) n ORDER BY name COLLATE "C"`),
      this.pool.query(ALL_PRICES),
    ]);
    return modelsWithPrices(
      names.rows.map((r) => r.name),
      all.rows,
    );
  }

  async rememberBatch(job: BatchJob, firstPollAt: number): Promise<void> {
    await runNamed(this.pool, BATCHES_SQL.remember, { ...job, nextPollAt: firstPollAt });
  }

  async leaseDueBatch(now: number, leaseMs: number): Promise<DueBatch | undefined> {
    const { rows } = await runNamed(this.pool, BATCHES_SQL.leaseDue, { now, leaseUntil: now + leaseMs });
    return rows[0] && toDueBatch(rows[0]);
  }

  async deferBatch(id: string, nextPollAt: number, attempts: number): Promise<void> {
    await runNamed(this.pool, BATCHES_SQL.defer, { id, nextPollAt, attempts });
  }

  async finishBatch(id: string, finalStatus: string, finishedAt: number): Promise<void> {
    await runNamed(this.pool, BATCHES_SQL.finish, { id, finalStatus, finishedAt });
  }

  async usage(filter: QueryFilter): Promise<UsageSummary> {
    await this.ready();
    const { sql, params } = usageSql(filter);
    const { rows } = await runNamed(this.pool, sql, params);
    return toUsage(rows[0]);
  }

  /** Grouped reads use the rollup for the groupings whose granularity it holds, as on SQLite. */
  async usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    await this.ready();
    return readUsageGroups(async (sql, params) => (await runNamed(this.pool, sql, params)).rows, filter, grouping, true);
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    await this.ready();
    yield* pagedQueries(filter, page, async (sql, params) => (await runNamed(this.pool, sql, params)).rows);
  }

  async userExists(name: string): Promise<boolean> {
    await this.ready();
    const { rowCount } = await this.pool.query('SELECT 1 FROM queries WHERE user_name = $1 LIMIT 1', [name]);
    return (rowCount ?? 0) > 0;
  }

  async rateLimits(): Promise<StoredRateLimits> {
    await this.ready();
    // Rate limits are written with the calls that saw them, so every answered call's reading is already stored.
    const { rows } = await this.pool.query<{ kind: string; maximum: number | null; remaining: number | null; reset: number | null }>(
      'SELECT kind, maximum, remaining, reset FROM rate_limits',
    );
    const out: StoredRateLimits = {};
    for (const r of rows) {
      if (r.kind === 'requests' || r.kind === 'tokens') out[r.kind] = { maximum: r.maximum, remaining: r.remaining, reset: r.reset };
    }
    return out;
  }

  async modelRateLimits(): Promise<Map<string, StoredRateLimits>> {
    await this.ready();
    // COLLATE "C": byte order, as SQLite sorts.
    const { rows } = await this.pool.query('SELECT model, kind, maximum, remaining, reset FROM model_rate_limits ORDER BY model COLLATE "C", kind');
    return toModelRateLimits(rows);
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    // A re-price in progress stops after its current window; its intent stays for the next instance.
    this.repricer.stop();
    await this.recorder.drain();
    await Promise.all([this.pool.end(), this.recording.end()]);
  }
}
