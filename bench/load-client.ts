import autocannon from 'autocannon';
import { Client } from 'undici';

/**
 * The load generator, run as its own process so that its CPU is not the
 * proxy's: `node load-client.js '<json task>'`. Prints one JSON line.
 *  - throughput: autocannon with N connections for a fixed time;
 *  - sequential: one keep-alive connection, one call after another, each timed with hrtime
 *    (autocannon's histogram has millisecond steps, too coarse for added latency); stops after
 *    `calls` calls or `maxSeconds`, whichever comes first, so a slow peer cannot stretch the bench;
 *  - stream: sequential streamed calls, timing the first body byte and the end;
 *  - big-stream: one streamed call read as fast as possible (the 100 MB answer).
 */
export type LoadTask =
  | { mode: 'throughput'; url: string; headers: Record<string, string>; body: string; connections: number; seconds: number }
  | { mode: 'sequential' | 'stream'; url: string; headers: Record<string, string>; body: string; calls: number; warmup: number; maxSeconds: number }
  | { mode: 'big-stream'; url: string; headers: Record<string, string>; body: string };

export interface ThroughputResult {
  callsPerSecond: number;
  calls: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
}
export interface LatencyResult {
  calls: number;
  failures: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}
export interface StreamResult extends LatencyResult {
  ttfbP50Us: number;
  ttfbP99Us: number;
  bytes: number;
}
export interface BigStreamResult {
  bytes: number;
  seconds: number;
  status: number;
  endedCleanly: boolean;
}

async function throughput(task: Extract<LoadTask, { mode: 'throughput' }>): Promise<ThroughputResult> {
  const result = await autocannon({
    url: task.url,
    method: 'POST',
    headers: task.headers,
    body: task.body,
    connections: task.connections,
    duration: task.seconds,
  });
  return {
    callsPerSecond: result['2xx'] / result.duration,
    calls: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    seconds: result.duration,
  };
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);

async function sequential(task: Extract<LoadTask, { mode: 'sequential' | 'stream' }>): Promise<StreamResult> {
  const url = new URL(task.url);
  const client = new Client(url.origin, { pipelining: 1, keepAliveTimeout: 60_000 });
  const totals: number[] = [];
  const firstBytes: number[] = [];
  let failures = 0;
  let bytes = 0;
  let timedFrom = 0n;
  try {
    for (let i = 0; i < task.warmup + task.calls; i++) {
      if (i === task.warmup) timedFrom = process.hrtime.bigint();
      else if (i > task.warmup && Number(process.hrtime.bigint() - timedFrom) / 1e9 > task.maxSeconds) break;
      const started = process.hrtime.bigint();
      let firstByte: bigint | undefined;
      const answer = await client.request({ method: 'POST', path: url.pathname + url.search, headers: task.headers, body: task.body });
      for await (const chunk of answer.body) {
        firstByte ??= process.hrtime.bigint();
        bytes += (chunk as Buffer).length;
      }
      const ended = process.hrtime.bigint();
      if (answer.statusCode !== 200) failures++;
      if (i < task.warmup) continue;
      totals.push(Number(ended - started) / 1000);
      firstBytes.push(Number((firstByte ?? ended) - started) / 1000);
    }
  } finally {
    await client.close();
  }
  totals.sort((a, b) => a - b);
  firstBytes.sort((a, b) => a - b);
  return {
    calls: totals.length,
    failures,
    p50Us: percentile(totals, 0.5),
    p99Us: percentile(totals, 0.99),
    meanUs: totals.reduce((s, v) => s + v, 0) / totals.length,
    ttfbP50Us: percentile(firstBytes, 0.5),
    ttfbP99Us: percentile(firstBytes, 0.99),
    bytes,
  };
}

async function bigStream(task: Extract<LoadTask, { mode: 'big-stream' }>): Promise<BigStreamResult> {
  const url = new URL(task.url);
  const client = new Client(url.origin);
  const started = process.hrtime.bigint();
  let bytes = 0;
  let endedCleanly = true;
  try {
    const answer = await client.request({ method: 'POST', path: url.pathname, headers: task.headers, body: task.body });
    try {
      for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
    } catch {
      endedCleanly = false;
    }
    return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9, status: answer.statusCode, endedCleanly };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2]) as LoadTask;
  const result = task.mode === 'throughput' ? await throughput(task) : task.mode === 'big-stream' ? await bigStream(task) : await sequential(task);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`load client failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
