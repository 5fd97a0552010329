import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeJournalEntry, newJournalEntry } from '../../src/store/journal/journal-entry.js';
import { describePostgres } from '../support/each-store.js';
import { DatabaseSession, waitUntil } from '../support/postgres-sessions.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { aQuery } from '../support/query-records.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** A journal left by an earlier run: `count` calls of `model`, one user each. */
function writeJournal(path: string, count: number, model: string): void {
  const lines = Array.from({ length: count }, (_, i) =>
    encodeJournalEntry(newJournalEntry(aQuery({ user: `journaled-${i}`, model, requestedModel: model, timestamp: Date.UTC(2024, 0, 1) + i }))),
  );
  writeFileSync(path, Buffer.concat(lines));
}

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))]);
}

describePostgres('replaying a journal left by an earlier run into PostgreSQL', () => {
  let dir: string;
  let db: TestDatabase;
  let session: DatabaseSession;
  let h: Harness | undefined;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-replay-'));
    db = await createTestDatabase();
    session = await DatabaseSession.open(db.url);
  });
  afterEach(async () => {
    await session.close().catch(() => undefined);
    await h?.close();
    h = undefined;
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (journal: string) => startHarness(['--prices.catalog=false', `--journal.path=${journal}`], { store: 'postgres', databaseUrl: db.url });
  const health = async () => (await fetch(`${h!.url}/health`)).json();

  it('listens at once and replays in the background, even while the replay is held up', async () => {
    const journal = join(dir, 'calls.journal');
    writeJournal(journal, 50, 'house-model');
    // The replay's inserts wait for this lock: start-up must not.
    await session.holdModelLock('house-model');
    h = await within(10_000, 'starting with a journal whose replay is held up', start(journal));
    expect(await health()).toMatchObject({ status: 'degraded', journal: { pending: 50 } });
    const live = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'live' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(live.status).toBe(200);
    await live.text();

    await session.releaseModelLock('house-model');
    await waitUntil(async () => (await health()).status === 'ok', 'the journal is replayed');
    const users = ((await (await fetch(`${h.url}/queries`)).json()) as { user: string }[]).map((r) => r.user);
    expect(users).toHaveLength(51);
    expect(new Set(users).size).toBe(51);
  });

  it('writes the journal in batches of many rows per transaction', async () => {
    const count = 3_000;
    const journal = join(dir, 'calls.journal');
    writeJournal(journal, count, 'gpt-4o');
    const began = Date.now();
    h = await start(journal);
    await waitUntil(async () => (await health()).status === 'ok', 'the journal is replayed', 60_000);
    const seconds = (Date.now() - began) / 1000;
    // Rows written by one transaction share its id (xmin): one per row would mean one commit per row.
    const [{ rows, transactions }] = await session.query<{ rows: number; transactions: number }>(
      'SELECT COUNT(*)::int AS rows, COUNT(DISTINCT xmin::text)::int AS transactions FROM queries',
    );
    expect(rows).toBe(count);
    expect(transactions).toBeLessThanOrEqual(count / 100);
    console.log(
      `journal replay: ${count} rows in ${transactions} transactions, ${seconds.toFixed(1)} s from start (${Math.round(count / seconds)} rows/s, start-up included)`,
    );
  }, 90_000);
});
