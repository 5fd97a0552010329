import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BigStreamResult, LoadTask, StreamResult, ThroughputResult } from './load-client.js';
import { runToCompletion, treeCpuTimeMs } from './processes.js';
import type { Target } from './servers.js';

const LOAD_CLIENT = join(fileURLToPath(new URL('.', import.meta.url)), 'load-client.js');

export const CHAT_REQUEST = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'In one paragraph: why do benchmarks alternate their runs?' },
  ],
  temperature: 0.2,
};

/** Runs one load task in its own process, reading the target's CPU time (with its workers') around it. */
async function runLoad<T>(task: LoadTask, target: Target, cpus?: string): Promise<{ result: T; cpuMs?: number }> {
  const pid = target.server?.pid;
  const before = pid ? treeCpuTimeMs(pid) : 0;
  const out = await runToCompletion(process.execPath, [LOAD_CLIENT, JSON.stringify(task)], { cpus, timeoutMs: 600_000 });
  const cpuMs = pid ? treeCpuTimeMs(pid) - before : undefined;
  return { result: JSON.parse(out.trim().split('\n').pop()!) as T, cpuMs };
}

export interface ThroughputRun extends ThroughputResult {
  /** The server's CPU time per answered call, in µs. */
  cpuUsPerCall?: number;
}

export async function throughput(target: Target, connections: number, seconds: number, cpus?: string): Promise<ThroughputRun> {
  const { result, cpuMs } = await runLoad<ThroughputResult>(
    { mode: 'throughput', url: target.url, headers: target.headers, body: JSON.stringify(CHAT_REQUEST), connections, seconds },
    target,
    cpus,
  );
  if (result.calls === 0) throw new Error(`${target.name}: no call succeeded (${result.non2xx} non-2xx, ${result.errors} errors)`);
  return { ...result, cpuUsPerCall: cpuMs === undefined ? undefined : (cpuMs * 1000) / result.calls };
}

export async function sequential(target: Target, calls: number, maxSeconds: number, cpus?: string): Promise<StreamResult> {
  const { result } = await runLoad<StreamResult>(
    { mode: 'sequential', url: target.url, headers: target.headers, body: JSON.stringify(CHAT_REQUEST), calls, warmup: Math.min(200, calls), maxSeconds },
    target,
    cpus,
  );
  if (result.failures) throw new Error(`${target.name}: ${result.failures} sequential calls failed`);
  return result;
}

export async function streamed(target: Target, calls: number, chunks: number, maxSeconds: number, cpus?: string): Promise<StreamResult> {
  const body = JSON.stringify({ ...CHAT_REQUEST, stream: true, max_tokens: chunks });
  const { result } = await runLoad<StreamResult>(
    { mode: 'stream', url: target.url, headers: target.headers, body, calls, warmup: Math.min(50, calls), maxSeconds },
    target,
    cpus,
  );
  if (result.failures) throw new Error(`${target.name}: ${result.failures} streamed calls failed`);
  return result;
}

const BIG_CHUNK_BYTES = 8192;

export async function bigStream(target: Target, megabytes: number, cpus?: string): Promise<BigStreamResult> {
  const body = JSON.stringify({
    ...CHAT_REQUEST,
    stream: true,
    max_tokens: Math.ceil((megabytes * 1024 * 1024) / BIG_CHUNK_BYTES),
    bench_chunk_bytes: BIG_CHUNK_BYTES,
  });
  const { result } = await runLoad<BigStreamResult>({ mode: 'big-stream', url: target.url, headers: target.headers, body }, target, cpus);
  return result;
}
