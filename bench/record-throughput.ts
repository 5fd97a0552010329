import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { QueryRecord } from '../src/store/types.js';

/**
 * Recording throughput, as its own process: `node record-throughput.js DB SECONDS`.
 * Records queries one after another through the SQLite store (priced insert,
 * usage rollups, rate limits, each in its own committed transaction, as the
 * proxy does) and prints rows per second and CPU per row.
 */
async function main(): Promise<void> {
  const [path, seconds] = [process.argv[2], Number(process.argv[3])];
  const store = await openSqliteStore({ path });
  await store.putPrice('gpt-4o-mini', { validFrom: Date.parse('2024-01-01T00:00:00Z'), per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006, per1KCachedQueryTokens: null }, 'admin');
  const query: QueryRecord = {
    user: 'bench-user', timestamp: Date.now(), durationMs: 3, endpoint: '/v1/chat/completions', requestedModel: 'gpt-4o-mini',
    model: 'gpt-4o-mini-2024-07-18', status: 200, outcome: 'ok', promptTokens: 215, completionTokens: 187, cachedTokens: 0,
    reasoningTokens: 0, streamed: false, estimated: false,
  };
  const limits = { observedAt: 0, requests: { maximum: 10000, remaining: 9999, reset: 0 }, tokens: { maximum: 30000000, remaining: 29999598, reset: 0 } };
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const until = started + BigInt(Math.round(seconds * 1e9));
  let rows = 0;
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 100; i++) {
      const now = Date.now();
      await store.recordQuery({ ...query, timestamp: now, user: `bench-user-${rows % 50}` }, { ...limits, observedAt: now });
      rows++;
    }
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await store.close();
  process.stdout.write(`${JSON.stringify({ rows, seconds: elapsed, rowsPerSecond: rows / elapsed, cpuUsPerRow: (used.user + used.system) / rows })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
