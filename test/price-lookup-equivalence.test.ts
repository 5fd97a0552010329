import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OPTIONAL_RATES } from '../src/accounting/price-rates.js';
import { type CostColumn, type PriceLookup, priceFallbackSql, unitCostSql } from '../src/store/sql/pricing-sql.js';
import { migrateSqlite } from '../src/store/sqlite/migrations.js';
import { seededRandom, type SeededRandom } from './support/seeded-random.js';

/**
 * SQLite prices rows with the 'indexed' lookup (one primary-key descent per
 * candidate), PostgreSQL with the 'sorted' one (every candidate in one sorted
 * UNION). Both must choose the same price for every query, or the two stores
 * (and a ledger copied between them) would disagree on a cost. Random price
 * tables full of near-ties (same instants, both sources, tiers, a model with
 * its snapshot and fine-tuned names) are priced both ways on a real file.
 */

const DAY = 86_400_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
/** A query's three price names: model, base_model, ft_base_model (as recordValues sets them). */
const NAMES = [
  ['gpt-4o-2024-08-06', 'gpt-4o', ''],
  ['gpt-4o', 'gpt-4o', ''],
  ['ft:gpt-4o-mini-2024-07-18:acme::abc', 'ft:gpt-4o-mini', 'gpt-4o-mini'],
  ['gpt-4o-mini', 'gpt-4o-mini', ''],
  ['o3-mini', 'o3-mini', ''],
] as const;
const PRICED_NAMES = ['gpt-4o-2024-08-06', 'gpt-4o', 'ft:gpt-4o-mini-2024-07-18:acme::abc', 'ft:gpt-4o-mini', 'gpt-4o-mini', 'o3-mini'];
const TIERS = [null, 'default', 'flex', 'priority'];
const PARAM: Record<CostColumn, string> = {
  model: '@model',
  base_model: '@base_model',
  ft_base_model: '@ft_base_model',
  service_tier: '@service_tier',
  ts: '@ts',
  prompt_tokens: '@prompt_tokens',
  cached_tokens: '@cached_tokens',
  cache_write_tokens: '@cache_write_tokens',
  audio_prompt_tokens: '@audio_prompt_tokens',
  image_prompt_tokens: '@image_prompt_tokens',
  completion_tokens: '@completion_tokens',
  audio_completion_tokens: '@audio_completion_tokens',
  image_completion_tokens: '@image_completion_tokens',
  audio_seconds: '@audio_seconds',
  input_characters: '@input_characters',
  web_search_calls: '@web_search_calls',
  file_search_calls: '@file_search_calls',
  code_interpreter_containers: '@code_interpreter_containers',
};
const priced = (lookup: PriceLookup) =>
  `${unitCostSql((c) => PARAM[c], lookup)} AS cost_${lookup}, ${priceFallbackSql((c) => PARAM[c], lookup)} AS fallback_${lookup}`;

let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oap-lookup-'));
  db = new Database(join(dir, 'proxy.db'));
  // Nothing here needs to survive a crash: without a sync per transaction the 300 price tables fill in moments.
  db.pragma('synchronous = OFF');
  migrateSqlite(db);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function fillPrices(rnd: SeededRandom): void {
  db.transaction(() => fillPricesNow(rnd))();
}

function fillPricesNow(rnd: SeededRandom): void {
  db.exec('DELETE FROM prices; DELETE FROM tier_prices');
  const optional = OPTIONAL_RATES.map((r) => r.column);
  const columns = ['model', 'source', 'valid_from', 'per1k_query', 'per1k_answer', 'per1k_cached_query', ...optional];
  const insert = (table: string, tier: string | null) =>
    db.prepare(
      `INSERT OR IGNORE INTO ${table} (${columns.join(', ')}${tier ? ', tier' : ''}) VALUES (${columns.map((c) => `@${c}`).join(', ')}${tier ? ', @tier' : ''})`,
    );
  const rows = rnd.int(14);
  for (let i = 0; i < rows; i++) {
    const tier = rnd.next() < 0.4 ? rnd.pick(['flex', 'priority']) : null;
    // Few instants, so prices of different names, sources and tiers often start together.
    const row: Record<string, unknown> = {
      model: rnd.pick(PRICED_NAMES),
      source: rnd.pick(['admin', 'catalog']),
      valid_from: T0 + rnd.int(4) * DAY,
      per1k_query: (1 + rnd.int(1000)) / 1e5,
      per1k_answer: (1 + rnd.int(1000)) / 1e5,
      per1k_cached_query: rnd.next() < 0.5 ? null : rnd.int(1000) / 1e5,
      tier,
    };
    for (const c of optional) row[c] = rnd.next() < 0.8 ? null : c === 'long_context_above' ? rnd.int(400) : rnd.int(1000) / 1e5;
    insert(tier ? 'tier_prices' : 'prices', tier).run(row);
  }
}

describe('the indexed price lookup', () => {
  it('chooses the price the sorted lookup chooses, for every query, tier and price table', () => {
    const both = db.prepare(`SELECT ${priced('sorted')}, ${priced('indexed')}`);
    const rnd = seededRandom(15);
    let pricedCalls = 0;
    let fallbacks = 0;
    for (let table = 0; table < 300; table++) {
      fillPrices(rnd);
      for (let call = 0; call < 20; call++) {
        const [model, baseModel, ftBaseModel] = rnd.pick(NAMES);
        const params = {
          model,
          base_model: baseModel,
          ft_base_model: ftBaseModel,
          service_tier: rnd.pick(TIERS),
          // On an instant a price starts at, too: a price applies strictly after its valid_from.
          ts: T0 + rnd.int(5) * DAY + (rnd.next() < 0.5 ? 0 : 1),
          prompt_tokens: 300 + rnd.int(200),
          cached_tokens: rnd.int(50),
          cache_write_tokens: rnd.int(50),
          audio_prompt_tokens: rnd.int(50),
          image_prompt_tokens: rnd.int(50),
          completion_tokens: 200 + rnd.int(100),
          audio_completion_tokens: rnd.int(50),
          image_completion_tokens: rnd.int(50),
          audio_seconds: rnd.int(3),
          input_characters: rnd.int(100),
          web_search_calls: rnd.int(3),
          file_search_calls: rnd.int(3),
          code_interpreter_containers: rnd.int(3),
        };
        const row = both.get(params) as Record<string, number | null>;
        expect({ cost: row.cost_indexed, fallback: row.fallback_indexed }, JSON.stringify({ table, params })).toEqual({
          cost: row.cost_sorted,
          fallback: row.fallback_sorted,
        });
        if (row.cost_sorted !== null) pricedCalls++;
        if (row.fallback_sorted) fallbacks++;
      }
    }
    // The tables are varied enough to price most calls, some of them by a fallback, and to leave some unpriced.
    expect(pricedCalls).toBeGreaterThan(2000);
    expect(pricedCalls).toBeLessThan(6000);
    expect(fallbacks).toBeGreaterThan(300);
  });
});
