import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TooManyGroupsError } from '../src/store/errors.js';
import { readUsageGroups } from '../src/store/sql/grouped-usage-read.js';
import { QUERY_COLUMNS } from '../src/store/sql/query-filter-sql.js';
import { toQueryRow } from '../src/store/sql/rows.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { GroupField, QueryFilter, QueryRow, Store, UsageGroup } from '../src/store/types.js';
import { aQuery } from './support/query-records.js';
import { seededRandom } from './support/seeded-random.js';

/**
 * Grouped usage against a brute force written differently: every row is put
 * in its group by Intl's own local date and hour, and the sums are added up in
 * JavaScript. Over a history that crosses daylight-saving changes in zones
 * with whole- and half-hour offsets, read through the rollups and without them.
 */

const DAY = 86_400_000;
const START = Date.parse('2024-02-20T00:00:00Z');
const SPAN = 260 * DAY;
const USERS = ['adam', 'eve', 'cain, "the elder"'];
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3'];
const ENDPOINTS = ['/v1/chat/completions', '/v1/embeddings'];
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Adelaide'];

let dir: string;
let store: Store;
let raw: Database.Database;
let rows: QueryRow[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oap-grouped-'));
  const path = join(dir, 'queries.db');
  store = await openSqliteStore({ path });
  await store.putPrice('gpt-4o', { validFrom: 0, per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.01, per1KCachedQueryTokens: null }, 'admin');
  const r = seededRandom(13);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 3000; i++) {
    // Every tenth call lands within minutes of a daylight-saving change, where local days and hours are easiest to get wrong.
    const near = [
      Date.parse('2024-03-31T01:00:00Z'),
      Date.parse('2024-10-27T01:00:00Z'),
      Date.parse('2024-11-03T06:00:00Z'),
      Date.parse('2024-04-06T16:30:00Z'),
    ];
    const timestamp = i % 10 === 0 ? r.pick(near) + r.int(4 * 3_600_000) - 2 * 3_600_000 : START + r.int(SPAN);
    pending.push(
      store.recordQuery(
        aQuery({
          timestamp,
          user: r.pick(USERS),
          model: r.pick(MODELS),
          endpoint: r.pick(ENDPOINTS),
          status: r.pick([200, 200, 200, 429]),
          promptTokens: r.int(2000),
          completionTokens: r.int(800),
        }),
      ),
    );
  }
  await Promise.all(pending);
  raw = new Database(path, { readonly: true });
  rows = (raw.prepare(`SELECT ${QUERY_COLUMNS} FROM queries`).all() as Record<string, unknown>[]).map(toQueryRow);
});
afterAll(async () => {
  await store?.close();
  raw?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sqliteRows = (sql: string, params: Record<string, unknown>) => raw.prepare(sql).all(params) as Record<string, unknown>[];

/** "2024-03-31 02 +02:00": the local hour with its offset, as Intl writes it. */
const seen = new Map<string, ReturnType<typeof formatLocal>>();
function localParts(zone: string, ts: number) {
  const key = `${zone} ${ts}`;
  let parts = seen.get(key);
  if (!parts) seen.set(key, (parts = formatLocal(zone, ts)));
  return parts;
}

function formatLocal(zone: string, ts: number) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'longOffset',
    })
      .formatToParts(ts)
      .map((p) => [p.type, p.value]),
  );
  return {
    month: `${parts.year}-${parts.month}`,
    day: `${parts.year}-${parts.month}-${parts.day}`,
    hour: `${parts.year}-${parts.month}-${parts.day} ${parts.hour} ${parts.timeZoneName}`,
    minute: parts.minute,
    clock: `${parts.hour}:${parts.minute}`,
  };
}

function matches(q: QueryRow, f: QueryFilter): boolean {
  const ok = q.status >= 200 && q.status < 400;
  return (
    (f.user === undefined || q.user === f.user) &&
    (f.model === undefined || q.model === f.model) &&
    (f.endpoint === undefined || q.endpoint === f.endpoint) &&
    (f.after === undefined || q.timestamp > f.after) &&
    (f.before === undefined || q.timestamp < f.before) &&
    (f.status === 'all' || (f.status === 'ok') === ok)
  );
}

function bruteForce(filter: QueryFilter, fields: GroupField[], zone: string): Map<string, { n: number; prompt: number; answer: number; cost: number }> {
  const out = new Map<string, { n: number; prompt: number; answer: number; cost: number }>();
  for (const q of rows.filter((row) => matches(row, filter))) {
    const local = localParts(zone, q.timestamp);
    const key = fields.map((f) => (f === 'user' ? q.user : f === 'model' ? q.model : f === 'endpoint' ? q.endpoint : local[f as 'day'])).join('|');
    const sums = out.get(key) ?? { n: 0, prompt: 0, answer: 0, cost: 0 };
    sums.n += 1;
    sums.prompt += q.promptTokens;
    sums.answer += q.completionTokens;
    sums.cost += q.cost;
    out.set(key, sums);
  }
  return out;
}

/** The groups keyed as the brute force keys them: a time group's start, written by Intl in the zone. */
function asBruteForceKeys(groups: UsageGroup[], fields: GroupField[], zone: string) {
  const out = new Map<string, { n: number; prompt: number; answer: number; cost: number }>();
  for (const g of groups) {
    const key = fields.map((f) => (['hour', 'day', 'month'].includes(f) ? localParts(zone, Date.parse(g.keys[f] ?? ''))[f as 'hour'] : g.keys[f])).join('|');
    out.set(key, { n: g.usage.numQueries, prompt: g.usage.queryTokens, answer: g.usage.answerTokens, cost: g.usage.cost });
  }
  return out;
}

const GROUPINGS: GroupField[][] = [
  ['model'],
  ['user'],
  ['endpoint', 'model'],
  ['day'],
  ['hour'],
  ['month'],
  ['day', 'user'],
  ['model', 'month'],
  ['hour', 'endpoint'],
];

describe('grouped usage', () => {
  for (const zone of ZONES) {
    it(`equals a brute-force grouping by Intl's local time in ${zone}, with and without rollups, across random filters`, async () => {
      const r = seededRandom(zone.length * 7919);
      for (let round = 0; round < 6; round++) {
        const filter: QueryFilter = { status: r.pick(['ok', 'ok', 'all', 'error'] as const) };
        if (round % 2 === 1) filter.after = START + r.int(SPAN / 2) + 0.5;
        if (round % 3 === 1) filter.before = START + SPAN / 2 + r.int(SPAN / 2);
        if (round === 4) filter.user = 'eve';
        if (round === 5) filter.model = 'gpt-4o';
        for (const fields of GROUPINGS) {
          const expected = bruteForce(filter, fields, zone);
          for (const rollups of [true, false]) {
            const groups = await readUsageGroups(sqliteRows, filter, { fields, timeZone: zone, maxGroups: 100_000 }, rollups);
            const got = asBruteForceKeys(groups, fields, zone);
            expect(groups.length, `${fields} ${JSON.stringify(filter)} rollups=${rollups}: one group per key`).toBe(got.size);
            expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
            for (const [key, sums] of expected) {
              const mine = got.get(key)!;
              expect({ ...mine, cost: 0 }, key).toEqual({ ...sums, cost: 0 });
              expect(mine.cost, key).toBeCloseTo(sums.cost, 9);
            }
          }
        }
      }
    });
  }

  it('writes each time group as the local instant its bucket starts, with the offset of that instant', async () => {
    const groups = await readUsageGroups(sqliteRows, { status: 'all' }, { fields: ['hour'], timeZone: 'Europe/Berlin', maxGroups: 100_000 }, true);
    for (const g of groups) {
      expect(g.keys.hour).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\+0[12]:00$/);
      expect(localParts('Europe/Berlin', Date.parse(g.keys.hour ?? '')).minute).toBe('00');
    }
    // The night clocks went back: 02:00 happened twice, at +02:00 and then at +01:00, and they stay two groups.
    const hours = groups.map((g) => g.keys.hour ?? '');
    expect(hours).toContain('2024-10-27T02:00:00+02:00');
    expect(hours).toContain('2024-10-27T02:00:00+01:00');
    const days = await readUsageGroups(sqliteRows, { status: 'all' }, { fields: ['day'], timeZone: 'America/New_York', maxGroups: 100_000 }, true);
    expect(days.map((g) => g.keys.day)).toContain('2024-11-03T00:00:00-04:00');
    expect(days.map((g) => g.keys.day)).toContain('2024-11-04T00:00:00-05:00');
    for (const g of days) expect(localParts('America/New_York', Date.parse(g.keys.day ?? '')).clock).toBe('00:00');
  });

  it('sums to the ungrouped /usage over the same filter', async () => {
    const filter: QueryFilter = { status: 'ok', after: START + 17 * DAY + 12_345, before: START + 201 * DAY + 678 };
    const total = await store.usage(filter);
    for (const fields of GROUPINGS) {
      const groups = await readUsageGroups(sqliteRows, filter, { fields, timeZone: 'Europe/Berlin', maxGroups: 100_000 }, true);
      expect(groups.reduce((n, g) => n + g.usage.numQueries, 0)).toBe(total.numQueries);
      expect(groups.reduce((n, g) => n + g.usage.answerTokens, 0)).toBe(total.answerTokens);
    }
  });

  it('refuses to hold more groups than allowed', async () => {
    await expect(readUsageGroups(sqliteRows, { status: 'all' }, { fields: ['hour', 'user'], timeZone: 'UTC', maxGroups: 50 }, true)).rejects.toThrow(
      TooManyGroupsError,
    );
  });

  it('answers no groups for a range that holds no time or no queries', async () => {
    expect(
      await readUsageGroups(sqliteRows, { status: 'all', after: START + 5, before: START + 5 }, { fields: ['day'], timeZone: 'UTC', maxGroups: 10 }, true),
    ).toEqual([]);
    expect(await readUsageGroups(sqliteRows, { status: 'all', after: START + 400 * DAY }, { fields: ['model'], timeZone: 'UTC', maxGroups: 10 }, true)).toEqual(
      [],
    );
  });
});
