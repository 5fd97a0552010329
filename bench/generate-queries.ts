import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { type CostColumn, unitCostSql } from '../src/store/sql/pricing-sql.js';
import { DAY_MS } from '../src/store/sql/usage-rollup-sql.js';
import { rebuildSqliteRollup } from '../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { loadPriceCatalog } from '../src/accounting/price-catalog/load-price-catalog.js';

/**
 * Writes `rows` recorded queries straight into an SQLite file, spread evenly
 * over the `days` before `endAt`, in one INSERT ... SELECT over a recursive
 * CTE: skewed users, five models (dated snapshots priced by their undated
 * names), three endpoints, a few percent errors, cached and reasoning tokens,
 * and prices that change twice over the period (one model unpriced for its
 * first third). Each row is priced by the same SQL the store prices with, and
 * the usage rollups are built as the store's migration builds them.
 */
/** The generated rows' columns as cost inputs; the billing details a text call lacks are 0. */
const generatedColumn = (c: CostColumn) =>
  GENERATED_COLUMNS.has(c) ? `r.${c}` : c === 'ft_base_model' ? "''" : c === 'service_tier' ? 'CAST(NULL AS TEXT)' : '0';
const GENERATED_COLUMNS = new Set(['model', 'base_model', 'ts', 'prompt_tokens', 'cached_tokens', 'completion_tokens']);

export interface GeneratedHistory {
  rows: number;
  seconds: number;
  fileMb: number;
  start: number;
  endAt: number;
  /** The busiest user, and a mid-ranked one, for filtered reads. */
  users: { busiest: string; middle: string };
}

const MODELS = `CASE WHEN m < 45 THEN 'gpt-4o-mini-2024-07-18' WHEN m < 70 THEN 'gpt-4o-2024-08-06' WHEN m < 85 THEN 'gpt-4.1'
  WHEN m < 95 THEN 'o3-mini' ELSE 'text-embedding-3-small' END`;
const BASE_MODELS = `CASE WHEN m < 45 THEN 'gpt-4o-mini' WHEN m < 70 THEN 'gpt-4o' WHEN m < 85 THEN 'gpt-4.1'
  WHEN m < 95 THEN 'o3-mini' ELSE 'text-embedding-3-small' END`;

/** Per 1K tokens: query, answer, cached query; each model's price changes at a third and at two thirds of the period. */
const PRICE_HISTORY: Record<string, [number, number, number | null][]> = {
  'gpt-4o-mini': [
    [0.00015, 0.0006, 0.000075],
    [0.00012, 0.0005, 0.00006],
    [0.0001, 0.0004, 0.00005],
  ],
  'gpt-4o': [
    [0.005, 0.015, null],
    [0.0025, 0.01, 0.00125],
    [0.002, 0.008, 0.001],
  ],
  'gpt-4.1': [
    [0.002, 0.008, 0.0005],
    [0.002, 0.008, 0.0005],
    [0.0018, 0.007, 0.0004],
  ],
  'o3-mini': [
    [0.0011, 0.0044, 0.00055],
    [0.0011, 0.0044, 0.00055],
  ],
  'text-embedding-3-small': [
    [0.00002, 0, null],
    [0.00002, 0, null],
    [0.00001, 0, null],
  ],
};

export interface SeedPrice {
  model: string;
  validFrom: number;
  perQuery: number;
  perAnswer: number;
  perCached: number | null;
}

/** The admin prices of the period starting at `start`; o3-mini gets its first only at a third of it, so its earlier rows stay unpriced. */
export function seedPrices(start: number, span: number): SeedPrice[] {
  return Object.entries(PRICE_HISTORY).flatMap(([model, history]) =>
    history.map(([perQuery, perAnswer, perCached], i) => {
      const offset = model === 'o3-mini' ? i + 1 : i;
      return { model, validFrom: Math.round(start - DAY_MS + (offset * span) / 3), perQuery, perAnswer, perCached };
    }),
  );
}

/** Every model name the generated rows use, for the models table. */
export const SEED_MODELS = [...Object.keys(PRICE_HISTORY), 'gpt-4o-mini-2024-07-18', 'gpt-4o-2024-08-06'];

/**
 * The INSERT ... SELECT both stores are filled with, after `head`: a WITH that
 * defines p (rows, start, span, users, as integers) and seq(i) for i in 0..rows-1.
 */
export function generatedInsertSql(head: string): string {
  return `${head},
      mixed AS (SELECT i, (i * 2654435761) % 4294967296 AS h FROM seq),
      facts AS (SELECT i, h, (h / 1000) % 100 AS m, (h % 1000) AS u FROM mixed),
      r AS (SELECT
          p.start + (i * p.span) / p.rows + (h % 997) AS ts,
          'user-' || ((u * u * p.users) / 1000000) AS user_name,
          ${MODELS} AS model,
          ${BASE_MODELS} AS base_model,
          CASE WHEN m >= 95 THEN '/v1/embeddings' WHEN (h / 100000) % 10 < 3 THEN '/v1/responses' ELSE '/v1/chat/completions' END AS endpoint,
          CASE WHEN (h / 7) % 100 = 0 THEN 500 WHEN (h / 7) % 100 < 3 THEN 429 ELSE 200 END AS status,
          200 + h % 3000 AS duration_ms,
          50 + h % 2000 AS prompt_tokens,
          CASE WHEN m >= 95 THEN 0 ELSE (h / 13) % 800 END AS completion_tokens,
          CASE WHEN (h / 17) % 4 = 0 THEN (50 + h % 2000) / 2 ELSE 0 END AS cached_tokens,
          CASE WHEN m >= 85 AND m < 95 THEN ((h / 13) % 800) / 2 ELSE 0 END AS reasoning_tokens,
          (h / 19) % 2 AS streamed
        FROM facts, p),
      priced AS (SELECT r.*, ${unitCostSql(generatedColumn)} AS unit FROM r)
      INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome, duration_ms,
        prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
      SELECT ts, user_name, endpoint, base_model, model, base_model, status, CASE WHEN status = 200 THEN 'ok' ELSE 'upstream_error' END,
        duration_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, 0,
        CASE WHEN unit IS NULL THEN 0 ELSE 1 END, COALESCE(unit, 0)
      FROM priced`;
}

export async function generateQueries(path: string, opts: { rows: number; users: number; days: number; endAt: number }): Promise<GeneratedHistory> {
  const started = process.hrtime.bigint();
  // The store creates the schema, exactly as the proxy will find it, with the bundled catalog's prices a running
  // proxy's database holds: without them the proxy's first start would re-price the whole history before answering.
  const store = await openSqliteStore({ path });
  await store.replaceCatalogPrices((await loadPriceCatalog({ catalog: true })).prices);
  await store.close();

  const db = new Database(path);
  const span = opts.days * DAY_MS;
  const start = opts.endAt - span;
  try {
    // Bulk load: no journal while filling a file nobody else uses; WAL again at the end, as the proxy keeps it.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    db.pragma('temp_store = MEMORY');

    const insertPrice = db.prepare(`INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query)
      VALUES (?, 'admin', ?, ?, ?, ?)`);
    const insertModel = db.prepare('INSERT INTO models (name, first_seen) VALUES (?, ?) ON CONFLICT (name) DO NOTHING');
    db.transaction(() => {
      for (const p of seedPrices(start, span)) insertPrice.run(p.model, p.validFrom, p.perQuery, p.perAnswer, p.perCached);
      for (const model of SEED_MODELS) insertModel.run(model, start);
    })();

    // Indexes are built once at the end: far faster than keeping them up to date row by row.
    const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'queries' AND sql IS NOT NULL").all() as {
      name: string;
      sql: string;
    }[];
    for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);

    // better-sqlite3 binds JS numbers as REAL: the CASTs keep the arithmetic in integers.
    db.prepare(
      generatedInsertSql(`WITH RECURSIVE p AS (SELECT CAST(@rows AS INTEGER) AS rows, CAST(@start AS INTEGER) AS start,
        CAST(@span AS INTEGER) AS span, CAST(@users AS INTEGER) AS users),
      seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < (SELECT rows FROM p) - 1)`),
    ).run({ rows: opts.rows, start, span, users: opts.users });

    for (const index of indexes) db.exec(index.sql);
    rebuildSqliteRollup(db);
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  return {
    rows: opts.rows,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    fileMb: statSync(path).size / 1024 ** 2,
    start,
    endAt: opts.endAt,
    users: { busiest: 'user-0', middle: `user-${Math.floor(opts.users / 4)}` },
  };
}
