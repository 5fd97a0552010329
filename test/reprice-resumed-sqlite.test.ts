import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/types.js';
import { aQuery, costOf } from './support/query-records.js';

const ROWS = 24_000;
const DAY = 86_400_000;

/**
 * SQLite re-prices a long history in transactions of whole days. When the
 * process loses the file half way (here: another process holds the write
 * lock past the busy timeout, as a crash would leave it), the price is stored
 * but only part of the history re-priced: the next store to open the file
 * must finish the work.
 */
describe('a re-price cut off half way on SQLite', () => {
  let dir: string;
  let path: string;
  const open: Store[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'oap-reprice-sqlite-'));
    path = join(dir, 'queries.db');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is finished by the next store to open the file', async () => {
    const first = await openSqliteStore({ path });
    open.push(first);
    const start = Date.UTC(2024, 0, 1);
    for (let batch = 0; batch < ROWS; batch += 1_000) {
      await Promise.all(
        Array.from({ length: 1_000 }, (_, i) =>
          first.recordQuery(
            aQuery({ user: `u${(batch + i) % 40}`, model: 'house-model', requestedModel: 'house-model', timestamp: start + ((batch + i) * 50 * DAY) / ROWS }),
          ),
        ),
      );
    }
    // The first range of days is re-priced before putPrice first yields; then the file is taken away.
    const repricing = first.putPrice('house-model', { validFrom: 0, per1KQueryTokens: 2, per1KAnswerTokens: 4, per1KCachedQueryTokens: null }, 'admin');
    const other = new Database(path);
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    await expect(repricing).rejects.toThrow(/locked|busy/i);
    other.exec('ROLLBACK');
    other.close();
    await first.close();
    open.length = 0;

    const peek = new Database(path, { readonly: true });
    const unpriced = peek.prepare('SELECT COUNT(*) FROM queries WHERE priced = 0').pluck().get() as number;
    peek.close();
    expect(unpriced).toBeGreaterThan(0);
    expect(unpriced).toBeLessThan(ROWS);

    const next = await openSqliteStore({ path });
    open.push(next);
    await next.catchUp();
    const usage = await next.usage({ status: 'ok' });
    expect(usage).toMatchObject({ numQueries: ROWS, unpricedQueries: 0 });
    expect(usage.cost).toBeCloseTo(ROWS * costOf(aQuery(), 2, 4), 6);
    // The rollup agrees with the rows: a read over the raw rows' edges gives the same.
    const edges = await next.usage({ status: 'ok', after: start - 1, before: start + 51 * DAY });
    expect(edges.cost).toBe(usage.cost);
  }, 60_000);
});
