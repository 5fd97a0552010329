import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { QueryRecord, Store } from '../src/store/types.js';
import { aQuery as aRecordedQuery } from './support/query-records.js';

const aQuery = ({ at, ...overrides }: Partial<QueryRecord> & { at: string }): QueryRecord => aRecordedQuery({ ...overrides, timestamp: Date.parse(at) });

let dir: string;
let path: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oap-group-commit-'));
  path = join(dir, 'queries.db');
  store = await openSqliteStore({ path });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const committedRows = () => {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare('SELECT user_name FROM queries ORDER BY id').all() as { user_name: string }[]).map((r) => r.user_name);
  } finally {
    other.close();
  }
};

describe('SQLite group commit', () => {
  it('resolves each of many concurrent recordings only once its row is committed', async () => {
    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    const seenAtResolve: number[] = [];
    await Promise.all(
      users.map((user) => store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user })).then(() => seenAtResolve.push(committedRows().length))),
    );
    expect(committedRows()).toEqual(users);
    // Another connection already saw every row of the batch when the first promise resolved.
    expect(Math.min(...seenAtResolve)).toBe(50);
    expect((await store.usage({ status: 'all' })).numQueries).toBe(50);
  });

  it('does not fail the other calls of a batch when one row cannot be recorded', async () => {
    const broken = { ...aQuery({ at: '2024-05-01T00:00:00Z' }), user: null } as unknown as QueryRecord;
    const results = await Promise.allSettled([
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'adam', model: 'model-a' })),
      store.recordQuery(broken),
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:01Z', user: 'eve', model: 'model-b' })),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/NOT NULL/);
    expect(committedRows()).toEqual(['adam', 'eve']);
    expect((await store.usage({ status: 'all' })).numQueries).toBe(2);
    expect((await store.listModels()).map((m) => m.name)).toEqual(expect.arrayContaining(['model-a', 'model-b']));
  });

  it('commits what is still waiting when the store closes', async () => {
    const recording = store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'late' }));
    await store.close();
    await expect(recording).resolves.toMatchObject({ priced: false });
    expect(committedRows()).toEqual(['late']);
  });
});
