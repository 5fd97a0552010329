import type pg from 'pg';
import type { RateLimitSnapshot } from '../types.js';
import { pricedInsertSql, recordValues } from '../sql/insert-query-sql.js';
import { BATCHES_SQL, toDueBatch } from '../sql/batches-sql.js';
import { REPRICE_ASSIGNMENT } from '../sql/pricing-sql.js';
import { USAGE_COLUMNS, filterWhere } from '../sql/query-filter-sql.js';
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
  upsertModelRateLimitsFrom,
  upsertRateLimitsFrom,
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
import { LOCK_MODELS_EXCLUSIVE, LOCK_MODELS_SHARED, LOCK_REPRICE } from './advisory-locks.js';
import { typedParameter } from './column-types.js';
import { PostgresAccessStore } from './pg-access-store.js';
import type { AccessStore } from '../access-types.js';
import { changedCatalogModels } from '../sql/catalog-changes.js';
import { insertJournaled } from './journal-replay.js';
import { createPool } from './pg-pool.js';
import { PostgresRepricer, type RepriceOptions } from './repricer.js';
import { SchemaGate, isOutage } from './schema-gate.js';
import { RateLimitWriter, type RateLimitRow } from './rate-limit-writer.js';
import { Statement, inTransaction, runNamed } from './statements.js';
import { errorText } from '../../common/error-text.js';
import { CommitInDoubtError } from '../errors.js';

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
  return new PostgresStore(pool, schema, reprice, log);
}

const insertQuerySql = (journalId?: string) => `WITH new_model AS (
     INSERT INTO models (name, first_seen) SELECT @model::text, @ts::bigint WHERE @model::text <> ''
     ON CONFLICT (name) DO NOTHING)
   ${pricedInsertSql(typedParameter, '', journalId)} RETURNING cost, priced, txid_current()::text AS txid`;
const INSERT_QUERY = new Statement('oap_insert_query', insertQuerySql());
/** Journal replays: an entry inserted before is skipped, not inserted twice. */
const INSERT_JOURNALED_QUERY = new Statement('oap_insert_journaled_query', insertQuerySql('@journal_id::text'));
const LOCK_SHARED = new Statement('oap_lock_models_shared', LOCK_MODELS_SHARED);
const LOCK_EXCLUSIVE = new Statement('oap_lock_models_exclusive', LOCK_MODELS_EXCLUSIVE);

const INSERT_MODEL = new Statement('oap_insert_model', INSERT_MODEL_SQL);
const UPSERT_RATE_LIMITS = new Statement(
  'oap_upsert_rate_limits',
  upsertRateLimitsFrom('SELECT * FROM unnest(@kinds::text[], @maximums::bigint[], @remainings::bigint[], @resets::bigint[], @observedAts::bigint[])'),
);

const UPSERT_MODEL_RATE_LIMITS = new Statement(
  'oap_upsert_model_rate_limits',
  upsertModelRateLimitsFrom(
    'SELECT * FROM unnest(@models::text[], @kinds::text[], @maximums::bigint[], @remainings::bigint[], @resets::bigint[], @observedAts::bigint[])',
  ),
);

interface InsertedRow {
  cost: number;
  priced: number;
  /** The inserting transaction, for asking later whether it committed (txid_status). */
  txid: string;
}

class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly access: AccessStore;
  private readonly rateLimitWriter: RateLimitWriter;
  private readonly repricer: PostgresRepricer;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: SchemaGate,
    reprice: RepriceOptions,
    private readonly log?: PostgresStoreOptions['log'],
  ) {
    this.access = new PostgresAccessStore(pool);
    this.rateLimitWriter = new RateLimitWriter(
      (rows) => this.writeRateLimits(rows),
      (err) => log?.warn(`could not store rate limits: ${errorText(err)}`),
    );
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
   * The hot path's one write: BEGIN, the models' pricing locks (shared), the
   * priced insert, COMMIT. Resolves only after COMMIT, so the row is durable
   * before the answer's last bytes go out.
   */
  async recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    await this.ready();
    const values = recordValues(query);
    const row = await inTransaction(
      this.pool,
      async (client) => {
        await LOCK_SHARED.run(client, { models: [values.model, values.base_model, values.ft_base_model] });
        const { rows } =
          query.journalId === undefined
            ? await INSERT_QUERY.run<InsertedRow>(client, values)
            : await INSERT_JOURNALED_QUERY.run<InsertedRow>(client, { ...values, journal_id: query.journalId });
        return rows[0] as InsertedRow | undefined;
      },
      // The row may be in the table although COMMIT went unanswered: the journal's replay asks the server first.
      (inserted, err) => (inserted ? new CommitInDoubtError(inserted.txid, err) : (err as Error)),
    );
    if (rateLimits) this.rateLimitWriter.offer(rateLimits, query.model);
    // No row: this journal entry was replayed before.
    return row ? { cost: row.cost, priced: row.priced === 1 } : { cost: 0, priced: false };
  }

  async recordJournaled(entries: JournaledRecord[]): Promise<void> {
    await this.ready();
    await insertJournaled(this.pool, entries);
    // The writer keeps the newest observation per model and kind, as the live path does.
    for (const e of entries) if (e.rateLimits) this.rateLimitWriter.offer(e.rateLimits, e.query.model);
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
      await LOCK_EXCLUSIVE.run(client, { models: [...new Set([...stored.map((r) => r.model as string), ...prices.keys()])] });
      const { rows: current } = await client.query(CATALOG_PRICES);
      const changed = changedCatalogModels(current, prices);
      if (changed.length === 0) return;
      for (const model of changed) {
        for (const sql of DELETE_CATALOG_PRICES) await runNamed(client, sql, { model });
        // One statement per price: a few hundred at start-up, and only for the models whose prices changed.
        for (const p of prices.get(model) ?? []) await runNamed(client, priceStatements(p).insert, priceParams(model, 'catalog', p));
      }
      await runNamed(client, LOCK_REPRICE, { models: changed.map(baseModelName) });
      await runNamed(
        client,
        `UPDATE queries SET ${REPRICE_ASSIGNMENT}
         WHERE model = ANY(@models::text[]) OR base_model = ANY(@models::text[]) OR ft_base_model = ANY(@models::text[])`,
        { models: changed },
      );
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
    const { where, params } = filterWhere(filter);
    const { rows } = await runNamed(this.pool, `SELECT ${USAGE_COLUMNS} FROM queries ${where}`, params);
    return toUsage(rows[0]);
  }

  /** PostgreSQL keeps no rollups yet: grouped reads sum the queries table. */
  async usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    await this.ready();
    return readUsageGroups(async (sql, params) => (await runNamed(this.pool, sql, params)).rows, filter, grouping, false);
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
    // What this instance saw last is written before it is read back.
    await this.rateLimitWriter.flush();
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
    await this.rateLimitWriter.flush();
    // COLLATE "C": byte order, as SQLite sorts.
    const { rows } = await this.pool.query('SELECT model, kind, maximum, remaining, reset FROM model_rate_limits ORDER BY model COLLATE "C", kind');
    return toModelRateLimits(rows);
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    // A re-price in progress stops after its current window; its intent stays for the next instance.
    this.repricer.stop();
    await this.rateLimitWriter.flush().catch(() => undefined);
    await this.pool.end();
  }

  private async writeRateLimits(rows: RateLimitRow[]): Promise<void> {
    await UPSERT_MODEL_RATE_LIMITS.run(this.pool, {
      models: rows.map((r) => r.model),
      kinds: rows.map((r) => r.kind),
      maximums: rows.map((r) => r.maximum),
      remainings: rows.map((r) => r.remaining),
      resets: rows.map((r) => r.reset),
      observedAts: rows.map((r) => r.observedAt),
    });
    // The overall rows take the newest of each kind: one statement may not update a row twice.
    const newest = new Map<string, RateLimitRow>();
    for (const r of rows) if ((newest.get(r.kind)?.observedAt ?? -Infinity) <= r.observedAt) newest.set(r.kind, r);
    const overall = [...newest.values()];
    await UPSERT_RATE_LIMITS.run(this.pool, {
      kinds: overall.map((r) => r.kind),
      maximums: overall.map((r) => r.maximum),
      remainings: overall.map((r) => r.remaining),
      resets: overall.map((r) => r.reset),
      observedAts: overall.map((r) => r.observedAt),
    });
  }
}
