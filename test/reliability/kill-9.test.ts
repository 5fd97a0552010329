import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf, type CallResult } from '../support/numbered-calls.js';
import { SmallDisk } from '../support/small-disk.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const CALLS = 400;
const CONCURRENCY = 40;

let dir: string;
let upstream: UpstreamStandIn;
let upstreamUrl: string;
let proxy: ChildProxy | undefined;
let disk: SmallDisk | undefined;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oap-kill-'));
  upstream = new UpstreamStandIn();
  upstreamUrl = await upstream.start();
});
afterEach(async () => {
  proxy?.kill('SIGKILL');
  await proxy?.exited;
  proxy = undefined;
  await upstream.stop();
  disk?.unmount();
  disk = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Mixed plain and streamed calls, CONCURRENCY at a time; once enough have
 * completed and enough are provably in flight (the upstream is answering
 * them), the proxy is killed with SIGKILL.
 */
async function loadAndKill(start: () => Promise<ChildProxy>) {
  const calls = new UpstreamCalls();
  upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 8, eventGapMs: 15, plainDelayMs: 40 }, calls) };
  proxy = await start();
  const target = proxy;
  const results: CallResult[] = [];
  let next = 0;
  let killed = false;
  let inFlightAtKill = { upstream: 0, callers: 0 };
  const worker = async () => {
    while (next < CALLS && !killed) {
      const n = next++;
      results.push(await numberedCall(target.url, n, n % 2 === 1));
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  while (!killed) {
    await new Promise((r) => setTimeout(r, 5));
    const completed = results.filter((r) => r.completed).length;
    if (completed >= 100 && calls.active >= 10) {
      inFlightAtKill = { upstream: calls.active, callers: next - results.length };
      target.kill('SIGKILL');
      killed = true;
    }
    if (next >= CALLS) throw new Error('the load ended before the proxy was killed');
  }
  await Promise.all(workers);
  const exit = await target.exited;
  proxy = undefined;
  return { results, inFlightAtKill, exit };
}

async function rowsAfterRestart(args: string[]) {
  proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, ...args], { cwd: dir });
  const res = await fetch(`${proxy.url}/queries?status=all`);
  expect(res.status).toBe(200);
  return (await res.json()) as { user: string; queryTokens: number; answerTokens: number; streamed: boolean }[];
}

function expectEveryCompletedCallRecorded(results: CallResult[], rows: Awaited<ReturnType<typeof rowsAfterRestart>>) {
  const byUser = new Map(rows.map((r) => [r.user, r]));
  const completed = results.filter((r) => r.completed);
  const missing = completed.filter((r) => !byUser.has(userOf(r.n)));
  expect(missing.map((r) => userOf(r.n))).toEqual([]);
  for (const r of completed) {
    const row = byUser.get(userOf(r.n))!;
    expect([row.queryTokens, row.answerTokens, row.streamed]).toEqual([usageOf(r.n).prompt_tokens, usageOf(r.n).completion_tokens, r.streamed]);
  }
  // Nothing twice.
  expect(new Set(rows.map((r) => r.user)).size).toBe(rows.length);
  return completed.length;
}

describe.skipIf(!process.env.OAP_LONG_TESTS)('kill -9 under load (runs the built proxy)', () => {
  // Compiling the proxy (once per version of the sources) can take a while on a busy machine.
  beforeAll(() => void builtProxyMain(), 120_000);

  it('loses no call whose caller saw it complete', async () => {
    const db = join(dir, 'queries.db');
    const { results, inFlightAtKill, exit } = await loadAndKill(() => startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`], { cwd: dir }));
    expect(exit.signal).toBe('SIGKILL');
    expect(inFlightAtKill.upstream).toBeGreaterThan(0);
    expect(inFlightAtKill.callers).toBeGreaterThan(0);
    const broken = results.filter((r) => !r.completed).length;
    expect(broken).toBeGreaterThan(0);

    const rows = await rowsAfterRestart([`--database.url=${db}`]);
    const completed = expectEveryCompletedCallRecorded(results, rows);
    console.log(
      `kill -9: ${results.length} calls started, ${completed} completed, ${broken} broken off ` +
        `(${inFlightAtKill.upstream} being answered upstream at the kill); ${rows.length} rows after restart`,
    );
  }, 60_000);

  it('loses no call whose caller saw it complete while the database was on a full disk (journal), replaying at restart', async () => {
    disk = SmallDisk.mount(join(dir, 'small'), '4m');
    const db = join(dir, 'small', 'queries.db');
    const journal = join(dir, 'queries.journal');
    const { results, inFlightAtKill } = await loadAndKill(async () => {
      const started = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, `--journal.path=${journal}`], { cwd: dir });
      disk!.fill();
      return started;
    });
    expect(inFlightAtKill.upstream).toBeGreaterThan(0);
    disk!.free();

    const rows = await rowsAfterRestart([`--database.url=${db}`, `--journal.path=${journal}`]);
    const completed = expectEveryCompletedCallRecorded(results, rows);
    const replayed = proxy!.logs.find((l) => l.includes('from an earlier run'));
    expect(replayed).toBeDefined();
    console.log(`kill -9 with the database on a full disk: ${completed} completed calls, all recorded after restart; ${JSON.parse(replayed!).msg}`);
  }, 60_000);
});
