import Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RateLimitSnapshot } from '../../proxy/rate-limit-headers.js';
import { namedParameter, pricedInsertSql, recordValues } from '../sql/insert-query-sql.js';
import { REPRICE_ASSIGNMENT } from '../sql/pricing-sql.js';
import { USAGE_COLUMNS, filterWhere } from '../sql/query-filter-sql.js';
import { pagedQueries } from '../sql/paged-queries.js';
import { groupPrices, toUsage } from '../sql/rows.js';
import type {
  ModelPrices, Page, Price, PriceSource, QueryFilter, QueryRecord, QueryRow, RecordedQuery, Store, StoredRateLimits, UsageSummary,
} from '../types.js';
import { importOriginalIfPresent, type ImportReport } from './import-original.js';
import { migrateSqlite } from './migrations.js';
import { changedCatalogModels } from '../catalog-changes.js';

/** Re-pricing more rows than this is split into id windows, yielding between them. */
const REPRICE_IN_ONE_GO = 20_000;
const REPRICE_WINDOW = 50_000;

export interface SqliteStoreOptions {
  path: string;
  log?: { warn: (msg: string) => void; info: (msg: string) => void };
}

/**
 * SQLite behind the async Store interface. better-sqlite3 is synchronous, so
 * each method runs its statements without awaiting in between: no other
 * request's statements can interleave with a transaction.
 */
export async function openSqliteStore({ path, log }: SqliteStoreOptions): Promise<Store & { importReport?: ImportReport }> {
  const db = new Database(path);
  // WAL with synchronous=NORMAL: a commit survives a killed process (not a power cut) and costs tens of µs.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  let importReport: ImportReport | undefined;
  try {
    importReport = importOriginalIfPresent(db, path, () => migrateSqlite(db));
    if (importReport && log) log.info(importReport.summary);
    for (const w of importReport?.warnings ?? []) log?.warn(w);
    migrateSqlite(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return Object.assign(new SqliteStore(db), { importReport });
}

const INSERT_QUERY = `${pricedInsertSql(namedParameter)} RETURNING cost, priced`;
const INSERT_JOURNALED_QUERY = `${pricedInsertSql(namedParameter, '', '@journal_id')} RETURNING cost, priced`;

const UPSERT_RATE_LIMIT = `INSERT INTO rate_limits (kind, maximum, remaining, reset, observed_at)
  VALUES (@kind, @maximum, @remaining, @reset, @observedAt)
  ON CONFLICT (kind) DO UPDATE SET maximum = excluded.maximum, remaining = excluded.remaining,
    reset = excluded.reset, observed_at = excluded.observed_at
  WHERE excluded.observed_at >= rate_limits.observed_at`;

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly knownModels = new Set<string>();
  private readonly insertQuery;
  /** Journal replays: an entry already in the table is skipped, not inserted twice. */
  private readonly insertJournaledQuery;
  private readonly insertModel;
  private readonly upsertRateLimit;
  private readonly recordTx;

  constructor(private readonly db: Database.Database) {
    this.insertQuery = db.prepare(INSERT_QUERY);
    this.insertJournaledQuery = db.prepare(INSERT_JOURNALED_QUERY);
    this.insertModel = db.prepare('INSERT INTO models (name, first_seen) VALUES (?, ?) ON CONFLICT (name) DO NOTHING');
    this.upsertRateLimit = db.prepare(UPSERT_RATE_LIMIT);
    this.recordTx = db.transaction((q: QueryRecord, limits?: RateLimitSnapshot) => {
      if (q.model !== '' && !this.knownModels.has(q.model)) {
        this.insertModel.run(q.model, q.timestamp);
        this.knownModels.add(q.model);
      }
      const row = (q.journalId === undefined
        ? this.insertQuery.get(recordValues(q))
        : this.insertJournaledQuery.get({ ...recordValues(q), journal_id: q.journalId })) as { cost: number; priced: number } | undefined;
      if (limits) {
        for (const kind of ['requests', 'tokens'] as const) {
          const w = limits[kind];
          if (w) this.upsertRateLimit.run({ kind, ...w, observedAt: limits.observedAt });
        }
      }
      // No row: this journal entry was replayed before.
      return row ? { cost: row.cost, priced: row.priced === 1 } : { cost: 0, priced: false };
    });
  }

  async recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    return this.recordTx(query, rateLimits);
  }

  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    this.db
      .prepare(`INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (model, source, valid_from) DO UPDATE SET per1k_query = excluded.per1k_query,
          per1k_answer = excluded.per1k_answer, per1k_cached_query = excluded.per1k_cached_query`)
      .run(model, source, price.validFrom, price.per1KQueryTokens, price.per1KAnswerTokens, price.per1KCachedQueryTokens);
    this.insertModel.run(model, Date.now());
    this.knownModels.add(model);
    const next = this.db
      .prepare('SELECT MIN(valid_from) AS v FROM prices WHERE model = ? AND source = ? AND valid_from > ?')
      .get(model, source, price.validFrom) as { v: number | null };
    await this.reprice(model, price.validFrom, next.v);
  }

  async replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    const stored = this.db.prepare("SELECT * FROM prices WHERE source = 'catalog'").all() as Record<string, unknown>[];
    const changed = changedCatalogModels(stored, prices);
    if (changed.length === 0) return;
    const remove = this.db.prepare("DELETE FROM prices WHERE source = 'catalog' AND model = ?");
    const insert = this.db.prepare(`INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query)
      VALUES (?, 'catalog', ?, ?, ?, ?)`);
    const repriceModel = this.db.prepare(`UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE model = @model OR base_model = @model`);
    // One transaction with the re-pricing: a crash cannot leave new catalog prices beside rows priced by the
    // old ones, which a restart (seeing no change) would never mend. It runs at start-up, before the proxy
    // listens, so holding the event loop is harmless.
    this.db.transaction(() => {
      for (const model of changed) {
        remove.run(model);
        for (const p of prices.get(model) ?? []) insert.run(model, p.validFrom, p.per1KQueryTokens, p.per1KAnswerTokens, p.per1KCachedQueryTokens);
      }
      for (const model of changed) repriceModel.run({ model });
    })();
  }

  /** Re-prices the rows a price change of `model` covers: (from, until], the model and its snapshots. */
  private async reprice(model: string, from: number, until: number | null): Promise<void> {
    const range = `(model = @model OR base_model = @model) AND ts > @from${until === null ? '' : ' AND ts <= @until'}`;
    const params = { model, from, until };
    const span = this.db.prepare(`SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM queries WHERE ${range}`).get(params) as {
      n: number; lo: number | null; hi: number | null;
    };
    if (span.n === 0 || span.lo === null || span.hi === null) return;
    const update = this.db.prepare(`UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${range} AND id >= @lo AND id <= @hi`);
    if (span.n <= REPRICE_IN_ONE_GO) {
      update.run({ ...params, lo: span.lo, hi: span.hi });
      return;
    }
    // Large histories: bounded windows with a turn of the event loop between them, so streams in flight keep flowing.
    for (let lo = span.lo; lo <= span.hi; lo += REPRICE_WINDOW) {
      update.run({ ...params, lo, hi: Math.min(lo + REPRICE_WINDOW - 1, span.hi) });
      await yieldToEventLoop();
    }
  }

  async getModel(name: string): Promise<ModelPrices | undefined> {
    const known = this.db.prepare('SELECT 1 FROM models WHERE name = ?').get(name);
    const prices = this.db
      .prepare('SELECT * FROM prices WHERE model = ? ORDER BY valid_from')
      .all(name) as Record<string, unknown>[];
    if (!known && prices.length === 0) return undefined;
    return groupPrices(name, prices);
  }

  async listModels(): Promise<ModelPrices[]> {
    const names = this.db
      .prepare('SELECT name FROM models UNION SELECT model FROM prices ORDER BY 1')
      .pluck()
      .all() as string[];
    const all = this.db.prepare('SELECT * FROM prices ORDER BY model, valid_from').all() as Record<string, unknown>[];
    const byModel = new Map<string, Record<string, unknown>[]>();
    for (const r of all) {
      const list = byModel.get(r.model as string) ?? [];
      list.push(r);
      byModel.set(r.model as string, list);
    }
    return names.map((n) => groupPrices(n, byModel.get(n) ?? []));
  }

  async usage(filter: QueryFilter): Promise<UsageSummary> {
    const { where, params } = filterWhere(filter);
    return toUsage(this.db.prepare(`SELECT ${USAGE_COLUMNS} FROM queries ${where}`).get(params) as Record<string, unknown>);
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    yield* pagedQueries(filter, page, (sql, params) => this.db.prepare(sql).all(params) as Record<string, unknown>[]);
  }

  async userExists(name: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM queries WHERE user_name = ? LIMIT 1').get(name) !== undefined;
  }

  async rateLimits(): Promise<StoredRateLimits> {
    const rows = this.db.prepare('SELECT * FROM rate_limits').all() as Record<string, number | null | string>[];
    const out: StoredRateLimits = {};
    for (const r of rows) {
      if (r.kind === 'requests' || r.kind === 'tokens') {
        out[r.kind] = { maximum: r.maximum as number | null, remaining: r.remaining as number | null, reset: r.reset as number | null };
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
