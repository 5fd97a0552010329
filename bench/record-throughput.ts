import pino from 'pino';
import { openStore } from '../src/server/open-store.js';
import type { QueryRecord } from '../src/store/types.js';

/**
 * Recording throughput, as its own process: `node record-throughput.js DATABASE_URL SECONDS [CONCURRENCY]`.
 * Records queries through the store the URL names (an SQLite file or a
 * PostgreSQL database: priced insert, rollups where the store keeps them,
 * rate limits, each in its own committed transaction, as the proxy does),
 * CONCURRENCY calls in flight at once (1: one after another), and prints rows
 * per second and this process's CPU per row (a PostgreSQL server's own CPU is
 * not in it).
 */
async function main(): Promise<void> {
  const [url, seconds] = [process.argv[2], Number(process.argv[3])];
  const concurrency = Number(process.argv[4] ?? 1);
  // One pooled connection per call in flight: the pool is what lets PostgreSQL take calls side by side.
  const store = await openStore(url, pino({ level: 'warn' }), { poolSize: concurrency });
  await store.putPrice(
    'gpt-4o-mini',
    { validFrom: Date.parse('2024-01-01T00:00:00Z'), per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006, per1KCachedQueryTokens: null },
    'admin',
  );
  const query: QueryRecord = {
    user: 'bench-user',
    timestamp: Date.now(),
    durationMs: 3,
    endpoint: '/v1/chat/completions',
    requestedModel: 'gpt-4o-mini',
    model: 'gpt-4o-mini-2024-07-18',
    status: 200,
    outcome: 'ok',
    promptTokens: 215,
    completionTokens: 187,
    cachedTokens: 0,
    reasoningTokens: 0,
    streamed: false,
    estimated: false,
  };
  const limits = { observedAt: 0, requests: { maximum: 10000, remaining: 9999, reset: 0 }, tokens: { maximum: 30000000, remaining: 29999598, reset: 0 } };
  const record = (n: number) => {
    const now = Date.now();
    return store.recordQuery({ ...query, timestamp: now, user: `bench-user-${n % 50}` }, { ...limits, observedAt: now });
  };
  // Not timed: one call per connection first, so the pool is open and its statements prepared before the clock starts.
  await Promise.all(Array.from({ length: concurrency }, (_, n) => record(n)));
  let rows = 0;
  const recordUntil = async (until: bigint) => {
    // The clock is read before every call (far cheaper than a call), so all callers stop together.
    while (process.hrtime.bigint() < until) {
      await record(rows++);
    }
  };
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const until = started + BigInt(Math.round(seconds * 1e9));
  await Promise.all(Array.from({ length: concurrency }, () => recordUntil(until)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await store.close();
  process.stdout.write(
    `${JSON.stringify({ rows, seconds: elapsed, concurrency, rowsPerSecond: rows / elapsed, cpuUsPerRow: (used.user + used.system) / rows })}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
