import type pg from 'pg';
import type { RateLimitSnapshot } from '../types.js';
import { pricedInsertSql, recordValues } from '../sql/insert-query-sql.js';
import { BATCHES_SQL, toDueBatch } from '../sql/batches-sql.js';
import { MODEL_ROWS, REPRICE_ASSIGNMENT } from '../sql/pricing-sql.js';
import { USAGE_COLUMNS, filterWhere } from '../sql/query-filter-sql.js';
import { pagedQueries } from '../sql/paged-queries.js';
import { groupPrices, modelsWithPrices, toUsage } from '../sql/rows.js';
import {
  ALL_PRICES,
  CATALOG_PRICES,
  DELETE_CATALOG_PRICES,
  INSERT_MODEL as INSERT_MODEL_SQL,
  MODEL_NAMES,
  PRICES_OF_MODEL,
  priceParams,
  priceStatements,
  upsertRateLimitsFrom,
} from '../sql/shared-statements.js';
import type { ModelPrices, Price, PriceSource } from '../../accounting/price.js';
import type {
  BatchJob,
  DueBatch,
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
import { LOCK_MODELS_EXCLUSIVE, LOCK_MODELS_SHARED } from './advisory-locks.js';
import { typedParameter } from './column-types.js';
import { migratePostgres } from './migrations.js';
import { changedCatalogModels } from '../sql/catalog-changes.js';
import { createPool, describeConnectError } from './pg-pool.js';
import { RateLimitWriter, type RateLimitRow } from './rate-limit-writer.js';
import { Statement, inTransaction, runNamed } from './statements.js';
import { errorText } from '../../common/error-text.js';

/** Re-pricing more rows than inOneGo is split into id windows, one transaction each, so inserts of the model are not held up long. */
interface RepriceLimits {
  inOneGo: number;
  window: number;
}
const REPRICE_LIMITS: RepriceLimits = { inOneGo: 20_000, window: 50_000 };

export interface PostgresStoreOptions {
  url: string;
  poolSize?: number;
  log?: { warn: (msg: string) => void; info: (msg: string) => void };
  reprice?: RepriceLimits;
}

/** PostgreSQL behind the Store interface: the schema migrated under an advisory lock, then a pooled store. */
export async function openPostgresStore({ url, poolSize, log, reprice = REPRICE_LIMITS }: PostgresStoreOptions): Promise<Store> {
  const pool = createPool({ url, max: poolSize, onIdleError: (m) => log?.warn(m) });
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(describeConnectError(url, err));
  }
  try {
    await migratePostgres(client);
  } catch (err) {
    client.release(true);
    await pool.end().catch(() => undefined);
    throw err;
  }
  client.release();
  return new PostgresStore(pool, reprice, log);
}

const insertQuerySql = (journalId?: string) => `WITH new_model AS (
     INSERT INTO models (name, first_seen) SELECT @model::text, @ts::bigint WHERE @model::text <> ''
     ON CONFLICT (name) DO NOTHING)
   ${pricedInsertSql(typedParameter, '', journalId)} RETURNING cost, priced`;
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

const repriceRange = (until: number | null) => `${MODEL_ROWS} AND ts > @from${until === null ? '' : ' AND ts <= @until'}`;

class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly rateLimitWriter: RateLimitWriter;

  constructor(
    private readonly pool: pg.Pool,
    private readonly limits: RepriceLimits,
    log?: PostgresStoreOptions['log'],
  ) {
    this.rateLimitWriter = new RateLimitWriter(
      (rows) => this.writeRateLimits(rows),
      (err) => log?.warn(`could not store rate limits: ${errorText(err)}`),
    );
  }

  /**
   * The hot path's one write: BEGIN, the models' pricing locks (shared), the
   * priced insert, COMMIT. Resolves only after COMMIT, so the row is durable
   * before the answer's last bytes go out.
   */
  async recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    const values = recordValues(query);
    const row = await inTransaction(this.pool, async (client): Promise<InsertedRow | undefined> => {
      await LOCK_SHARED.run(client, { models: [values.model, values.base_model, values.ft_base_model] });
      const { rows } =
        query.journalId === undefined
          ? await INSERT_QUERY.run<InsertedRow>(client, values)
          : await INSERT_JOURNALED_QUERY.run<InsertedRow>(client, { ...values, journal_id: query.journalId });
      return rows[0];
    });
    if (rateLimits) this.rateLimitWriter.offer(rateLimits);
    // No row: this journal entry was replayed before.
    return row ? { cost: row.cost, priced: row.priced === 1 } : { cost: 0, priced: false };
  }

  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    const rest = await inTransaction(this.pool, async (client) => {
      await LOCK_EXCLUSIVE.run(client, { models: [model] });
      const statements = priceStatements(price);
      const params = priceParams(model, source, price);
      await runNamed(client, statements.upsert, params);
      await INSERT_MODEL.run(client, { name: model, first_seen: Date.now() });
      const { rows } = await runNamed<{ v: number | null }>(client, statements.nextFrom, params);
      return this.repriceFirstWindow(client, model, price.validFrom, rows[0].v);
    });
    await this.repriceRemainingWindows(rest);
  }

  async replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
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
      await runNamed(
        client,
        `UPDATE queries SET ${REPRICE_ASSIGNMENT}
         WHERE model = ANY(@models::text[]) OR base_model = ANY(@models::text[]) OR ft_base_model = ANY(@models::text[])`,
        { models: changed },
      );
    });
  }

  /**
   * Re-prices the rows a price change of `model` covers, (from, until], the
   * model and its snapshots, inside the caller's transaction that holds the
   * model's lock exclusively: an insert of the model either committed before
   * (and is re-priced here) or waits and then reads the new price. Small spans
   * are done here; a large one returns the windows still to do.
   */
  private async repriceFirstWindow(client: pg.ClientBase, model: string, from: number, until: number | null): Promise<RepriceWindows | undefined> {
    const range = repriceRange(until);
    const params = { model, from, until };
    const { rows } = await runNamed<{ n: number; lo: number | null; hi: number | null }>(
      client,
      `SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM queries WHERE ${range}`,
      params,
    );
    const span = rows[0];
    if (span.n === 0 || span.lo === null || span.hi === null) return undefined;
    const windowEnd = span.n <= this.limits.inOneGo ? span.hi : Math.min(span.lo + this.limits.window - 1, span.hi);
    await runNamed(client, `UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${range} AND id >= @lo AND id <= @hi`, {
      ...params,
      lo: span.lo,
      hi: windowEnd,
    });
    return windowEnd < span.hi ? { model, from, until, lo: windowEnd + 1, hi: span.hi } : undefined;
  }

  /**
   * The rest of a large re-price, one window per transaction. Rows inserted
   * meanwhile were priced at the new price already; re-pricing recomputes
   * from the prices table, so a window that runs after yet another price
   * change is still right.
   */
  private async repriceRemainingWindows(windows: RepriceWindows | undefined): Promise<void> {
    if (!windows) return;
    const { model, from, until } = windows;
    const range = repriceRange(until);
    for (let lo = windows.lo; lo <= windows.hi; lo += this.limits.window) {
      await inTransaction(this.pool, async (client) => {
        await LOCK_EXCLUSIVE.run(client, { models: [model] });
        await runNamed(client, `UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${range} AND id >= @lo AND id <= @hi`, {
          model,
          from,
          until,
          lo,
          hi: Math.min(lo + this.limits.window - 1, windows.hi),
        });
      });
    }
  }

  async getModel(name: string): Promise<ModelPrices | undefined> {
    const [known, prices] = await Promise.all([
      this.pool.query('SELECT 1 FROM models WHERE name = $1', [name]),
      runNamed(this.pool, PRICES_OF_MODEL, { model: name }),
    ]);
    if (known.rowCount === 0 && prices.rows.length === 0) return undefined;
    return groupPrices(name, prices.rows);
  }

  async listModels(): Promise<ModelPrices[]> {
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
    const { where, params } = filterWhere(filter);
    const { rows } = await runNamed(this.pool, `SELECT ${USAGE_COLUMNS} FROM queries ${where}`, params);
    return toUsage(rows[0]);
  }

  /** PostgreSQL keeps no rollups yet: grouped reads sum the queries table. */
  usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    return readUsageGroups(async (sql, params) => (await runNamed(this.pool, sql, params)).rows, filter, grouping, false);
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    yield* pagedQueries(filter, page, async (sql, params) => (await runNamed(this.pool, sql, params)).rows);
  }

  async userExists(name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM queries WHERE user_name = $1 LIMIT 1', [name]);
    return (rowCount ?? 0) > 0;
  }

  async rateLimits(): Promise<StoredRateLimits> {
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

  async close(): Promise<void> {
    await this.rateLimitWriter.flush();
    await this.pool.end();
  }

  private async writeRateLimits(rows: RateLimitRow[]): Promise<void> {
    await UPSERT_RATE_LIMITS.run(this.pool, {
      kinds: rows.map((r) => r.kind),
      maximums: rows.map((r) => r.maximum),
      remainings: rows.map((r) => r.remaining),
      resets: rows.map((r) => r.reset),
      observedAts: rows.map((r) => r.observedAt),
    });
  }
}

interface InsertedRow {
  cost: number;
  priced: number;
}

interface RepriceWindows {
  model: string;
  from: number;
  until: number | null;
  lo: number;
  hi: number;
}
