import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { encodeJournalEntry, newJournalEntry } from '../src/store/journal/journal-entry.js';
import { JournalingStore } from '../src/store/journal/journaling-store.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { QueryRecord, Store } from '../src/store/types.js';

const silent = pino({ level: 'silent' });

export interface ReplayResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Calls recorded meanwhile by `concurrency` callers, straight into the database. */
  liveCalls: number;
  concurrency: number;
}

export interface RepriceStallResult {
  rows: number;
  repriceSeconds: number;
  /** Recording one call of the re-priced model, before and during the re-price, in ms. */
  before: { p50: number; max: number };
  during: { calls: number; p50: number; p99: number; max: number };
}

const call = (i: number, model: string, timestamp = Date.now()): QueryRecord => ({
  user: `bench-${i % 64}`,
  timestamp,
  durationMs: 20,
  endpoint: '/v1/chat/completions',
  requestedModel: model,
  model,
  status: 200,
  outcome: 'ok',
  promptTokens: 100 + (i % 997),
  completionTokens: 7 + (i % 13),
  cachedTokens: 0,
  reasoningTokens: 0,
  streamed: false,
  estimated: false,
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

/**
 * Replay of a journal left by an earlier run (the database was down), timed
 * from the moment the store is open (the proxy listens then) until the
 * journal is empty, while `concurrency` callers keep recording new calls.
 */
export async function measureReplay(url: string, opts: { rows: number; concurrency: number }): Promise<ReplayResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oap-bench-replay-'));
  try {
    const journalPath = join(dir, 'calls.journal');
    writeFileSync(
      journalPath,
      Buffer.concat(Array.from({ length: opts.rows }, (_, i) => encodeJournalEntry(newJournalEntry(call(i, 'gpt-4o-mini', Date.UTC(2024, 0, 1) + i))))),
    );
    const database = await openPostgresStore({ url });
    const started = process.hrtime.bigint();
    const store = await JournalingStore.open(database, { journalPath, log: silent });
    let liveCalls = 0;
    let replaying = true;
    const live = Array.from({ length: opts.concurrency }, async (_, lane) => {
      for (let i = lane; replaying; i += opts.concurrency) {
        await store.recordQuery(call(i, 'gpt-4o'));
        liveCalls++;
      }
    });
    while (store.health().journal.pending > 0) await new Promise((r) => setTimeout(r, 10));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    replaying = false;
    await Promise.all(live);
    await store.close();
    return { rows: opts.rows, seconds, rowsPerSecond: opts.rows / seconds, liveCalls, concurrency: opts.concurrency };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How long recording one call of a model takes while a price change re-prices
 * `rows` of that model's history: the wait a caller of that model sees at the
 * end of its answer.
 */
export async function measureRepriceStall(url: string, opts: { rows: number }): Promise<RepriceStallResult> {
  const store: Store = await openPostgresStore({ url });
  try {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome, duration_ms,
           prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
         SELECT $1::bigint + i * 1000, 'user-' || (i % 50), '/v1/chat/completions', 'gpt-4o', 'gpt-4o-2024-08-06', 'gpt-4o', 200, 'ok', 10,
           100 + i % 997, 7 + i % 13, 0, 0, 0, 0, 0, 0
         FROM generate_series(1, $2::int) AS i`,
        [Date.UTC(2024, 0, 1), opts.rows],
      );
      await client.query('VACUUM ANALYZE queries');
    } finally {
      await client.end();
    }
    const timeOne = async (i: number) => {
      const t = process.hrtime.bigint();
      await store.recordQuery(call(i, 'gpt-4o-2024-08-06'));
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const before: number[] = [];
    for (let i = 0; i < 200; i++) before.push(await timeOne(i));

    const during: number[] = [];
    let repricing = true;
    const t0 = process.hrtime.bigint();
    const price = store
      .putPrice('gpt-4o', { validFrom: 0, per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.01, per1KCachedQueryTokens: null }, 'admin')
      .finally(() => (repricing = false));
    for (let i = 0; repricing; i++) during.push(await timeOne(i));
    await price;
    const repriceSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    before.sort((a, b) => a - b);
    during.sort((a, b) => a - b);
    return {
      rows: opts.rows,
      repriceSeconds,
      before: { p50: percentile(before, 50), max: before[before.length - 1] },
      during: { calls: during.length, p50: percentile(during, 50), p99: percentile(during, 99), max: during[during.length - 1] ?? NaN },
    };
  } finally {
    await store.close();
  }
}
