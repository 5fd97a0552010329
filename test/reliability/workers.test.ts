import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { accessAdmin, ADMIN_TOKEN } from '../support/access-admin.js';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf, type CallResult } from '../support/numbered-calls.js';
import { rawCall } from '../support/raw-call.js';
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
  dir = mkdtempSync(join(tmpdir(), 'oap-workers-'));
  upstream = new UpstreamStandIn();
  upstreamUrl = await upstream.start();
});
afterEach(async () => {
  if (proxy) {
    // The primary drains its workers; SIGKILL would leave them running without it for a moment.
    proxy.kill('SIGTERM');
    await proxy.exited;
  }
  proxy = undefined;
  await upstream.stop();
  disk?.unmount();
  disk = undefined;
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  status: string;
  acceptingCalls: boolean;
  journal: { pending: number };
  workers: { worker: number; pid?: number; reporting: boolean; journal?: { path: string; pending: number } }[];
}

async function health(url: string): Promise<Health> {
  return (await (await fetch(`${url}/health`)).json()) as Health;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function recordedRows(db: string) {
  const sqlite = new Database(db, { readonly: true });
  try {
    return sqlite.prepare('SELECT user_name AS user, prompt_tokens, completion_tokens, streamed, outcome FROM queries ORDER BY user_name').all() as {
      user: string;
      prompt_tokens: number;
      completion_tokens: number;
      streamed: number;
      outcome: string;
    }[];
  } finally {
    sqlite.close();
  }
}

function expectEveryCompletedCallRecordedOnce(results: CallResult[], rows: ReturnType<typeof recordedRows>) {
  const byUser = new Map(rows.map((r) => [r.user, r]));
  const completed = results.filter((r) => r.completed);
  expect(completed.filter((r) => !byUser.has(userOf(r.n))).map((r) => userOf(r.n))).toEqual([]);
  for (const r of completed) {
    const row = byUser.get(userOf(r.n))!;
    expect([row.prompt_tokens, row.completion_tokens, row.streamed === 1]).toEqual([usageOf(r.n).prompt_tokens, usageOf(r.n).completion_tokens, r.streamed]);
  }
  expect(new Set(rows.map((r) => r.user)).size).toBe(rows.length);
  return completed.length;
}

/**
 * Mixed plain and streamed calls, CONCURRENCY at a time, through a proxy of
 * two workers; once enough have completed and calls are in flight, worker 1
 * is killed with SIGKILL while the load goes on through the other.
 */
/** `victimReady`, when given, must also hold (asked of /health) before the kill: e.g. that the victim has calls in its journal. */
async function loadAndKillWorker(target: ChildProxy, victimReady?: (victim: Health['workers'][number]) => boolean) {
  const calls = new UpstreamCalls();
  upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 8, eventGapMs: 15, plainDelayMs: 40 }, calls) };
  const victim = (await health(target.url)).workers.find((w) => w.worker === 1)!;
  const results: CallResult[] = [];
  let next = 0;
  let killed = false;
  const caller = async () => {
    while (next < CALLS) {
      const n = next++;
      results.push(await numberedCall(target.url, n, n % 2 === 1));
    }
  };
  const callers = Array.from({ length: CONCURRENCY }, caller);
  const isVictimReady = async () => {
    if (!victimReady) return true;
    const now = (await health(target.url)).workers.find((w) => w.worker === 1);
    return now !== undefined && victimReady(now);
  };
  while (!killed) {
    await new Promise((r) => setTimeout(r, 5));
    if (results.filter((r) => r.completed).length >= 100 && calls.active >= 10 && (await isVictimReady())) {
      process.kill(victim.pid!, 'SIGKILL');
      killed = true;
    }
    if (next >= CALLS) throw new Error('the load ended before the worker was killed');
  }
  await Promise.all(callers);
  return { results, victimPid: victim.pid! };
}

describe.skipIf(!process.env.OAP_LONG_TESTS)('server.workers (runs the built proxy)', () => {
  beforeAll(() => void builtProxyMain(), 120_000);

  it('starts the workers on one listener, each with its own journal, and /health answers for all of them', async () => {
    const db = join(dir, 'queries.db');
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.workers=2'], { cwd: dir });
    const h = await health(proxy.url);
    expect(h.status).toBe('ok');
    expect(h.workers.map((w) => [w.worker, w.reporting, w.journal?.path])).toEqual([
      [1, true, join(dir, 'queries.journal.worker-1')],
      [2, true, join(dir, 'queries.journal.worker-2')],
    ]);
    expect(new Set(h.workers.map((w) => w.pid)).size).toBe(2);
  });

  it('answers /metrics for every worker: the calls counted are all the calls, whichever worker took them', async () => {
    const db = join(dir, 'queries.db');
    const calls = new UpstreamCalls();
    upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 2, eventGapMs: 1, plainDelayMs: 1 }, calls) };
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.workers=2'], { cwd: dir });
    // A new connection per call: the two workers each take some of them.
    const results = await Promise.all(Array.from({ length: 24 }, (_, n) => numberedCall(proxy!.url, n, n % 2 === 0)));
    expect(results.every((r) => r.completed)).toBe(true);
    const counted = async () => {
      const text = await (await fetch(`${proxy!.url}/metrics`)).text();
      return text
        .split('\n')
        .filter((line) => line.startsWith('openai_proxy_calls_total{'))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    };
    // Asked several times, so the answer cannot depend on which worker the scrape reached.
    for (let i = 0; i < 4; i++) expect(await counted()).toBe(24);
  });

  it('records every completed call of a worker killed with SIGKILL, and starts a new one in its place', async () => {
    const db = join(dir, 'queries.db');
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.workers=2'], { cwd: dir });
    const { results, victimPid } = await loadAndKillWorker(proxy);
    const broken = results.filter((r) => !r.completed).length;
    // The other worker kept answering: most calls completed despite the kill.
    expect(results.filter((r) => r.completed).length).toBeGreaterThan(CALLS / 2);
    expect(broken).toBeGreaterThan(0);
    const after = await until(
      'a new worker 1',
      () => health(proxy!.url),
      (h) => h.workers.every((w) => w.reporting),
    );
    expect(after.workers.find((w) => w.worker === 1)!.pid).not.toBe(victimPid);
    expect(after.status).toBe('ok');
    const completed = expectEveryCompletedCallRecordedOnce(results, recordedRows(db));
    console.log(`worker killed: ${results.length} calls, ${completed} completed and recorded, ${broken} broken off`);
  }, 60_000);

  it("replays a killed worker's journal (database on a full disk) when its replacement starts", async () => {
    disk = SmallDisk.mount(join(dir, 'small'), '32m');
    if (!disk) return;
    const db = join(dir, 'small', 'queries.db');
    const journal = join(dir, 'queries.journal');
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, `--journal.path=${journal}`, '--server.workers=2'], {
      cwd: dir,
    });
    disk.fill();
    // SQLite may still commit into WAL pages it already has on the full disk: kill only once worker 1 has journaled.
    const { results, victimPid } = await loadAndKillWorker(proxy, (victim) => (victim.journal?.pending ?? 0) > 0);
    const journaled = (await health(proxy.url)).journal.pending;
    expect(journaled).toBeGreaterThan(0);
    disk.free();
    const after = await until(
      'the journals replayed by the new worker 1 and by worker 2',
      () => health(proxy!.url),
      (h) => h.workers.every((w) => w.reporting) && h.journal.pending === 0,
    );
    expect(after.workers.find((w) => w.worker === 1)!.pid).not.toBe(victimPid);
    expect(proxy.logs.some((l) => l.includes('"worker":1') && l.includes('from an earlier run'))).toBe(true);
    const completed = expectEveryCompletedCallRecordedOnce(results, recordedRows(db));
    console.log(`worker killed on a full disk: ${completed} completed calls all recorded; ${journaled} calls were in the journals at the kill`);
  }, 60_000);

  it('keeps the admin token and the keys for the whole proxy: /health details and /metrics only with the token, a key honoured, and refused within a second of its revocation, whichever worker takes the call', async () => {
    const db = join(dir, 'queries.db');
    proxy = await startChildProxy(
      [
        `--forward.url=${upstreamUrl}`,
        '--forward.token=sk-org-key',
        `--database.url=${db}`,
        '--server.workers=2',
        `--admin.token=${ADMIN_TOKEN}`,
        '--auth.callers=keys',
      ],
      { cwd: dir },
    );
    const url = proxy.url;
    const admin = accessAdmin(() => url);
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok', acceptingCalls: true });
    expect((await admin.ok('GET', '/health')).workers.map((w: { reporting: boolean }) => w.reporting)).toEqual([true, true]);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);

    const made = await admin.createKey({ user: 'adam' });
    // A new connection per call: any worker may take each (the kernel chooses; often one takes most).
    const callsWithKey = () =>
      Promise.all(
        Array.from({ length: 24 }, (_, n) =>
          rawCall(`${url}/v1/chat/completions`, {
            headers: { 'content-type': 'application/json', authorization: `Bearer ${made.key}` },
            body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `call ${n}` }] }),
          }),
        ),
      );
    expect((await callsWithKey()).map((a) => a.status)).toEqual(Array(24).fill(200));
    expect((await admin.ok('GET', `/usage?key=${made.id}`)).numQueries).toBe(24);
    expect(upstream.received.every((r) => r.headers.authorization === 'Bearer sk-org-key')).toBe(true);

    await admin.ok('DELETE', `/keys/${made.id}`);
    // Each worker reads keys afresh within a second, as separate instances do (test/access/revocation-across-instances).
    await new Promise((r) => setTimeout(r, 1_000));
    const refused = await callsWithKey();
    expect(refused.map((a) => [a.status, a.json().error.code])).toEqual(Array(24).fill([401, 'key_revoked']));
  }, 60_000);

  it('refuses once, before forking, to serve an open admin API beyond this machine', async () => {
    const started = startChildProxy(
      [
        `--forward.url=${upstreamUrl}`,
        '--forward.token=sk-org-key',
        `--database.url=${join(dir, 'queries.db')}`,
        '--server.workers=2',
        '--server.host=0.0.0.0',
      ],
      {
        cwd: dir,
      },
    );
    const err = (await started.catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited \(1\) before listening/);
    expect(err.message.split('Set admin.token (ADMIN_TOKEN)').length - 1).toBe(1);
    expect(err.message).not.toContain('"worker"');
  });

  it('drains every worker on SIGTERM: calls in flight on each finish and are recorded, then it exits 0', async () => {
    const db = join(dir, 'queries.db');
    const calls = new UpstreamCalls();
    let openGate!: () => void;
    const finishGate = new Promise<void>((resolve) => (openGate = resolve));
    upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 4, eventGapMs: 10, plainDelayMs: 10, finishGate }, calls) };
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.workers=2', '--server.shutdown-grace=20s'], {
      cwd: dir,
    });
    const target = proxy;
    const numbers = Array.from({ length: 12 }, (_, n) => n);
    const pending = Promise.all(numbers.map((n) => numberedCall(target.url, n, n % 2 === 0)));
    await until(
      'every call in flight',
      async () => calls.active,
      (active) => active === numbers.length,
    );

    target.kill('SIGTERM');
    await until(
      'both workers shutting down',
      async () => target.logs.filter((l) => l.includes('"msg":"shutting down"')).length,
      (n) => n === 2,
    );
    expect(await Promise.race([target.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 200))])).toBe('running');

    openGate();
    const done = await pending;
    expect(done.every((r) => r.completed)).toBe(true);
    expect(await target.exited).toEqual({ code: 0, signal: null });
    proxy = undefined;
    // Both workers had calls in flight, and both finished them before stopping.
    expect(target.logs.filter((l) => l.includes('"msg":"shutting down"') && !l.includes('"inflight":0')).length).toBe(2);
    expect(target.logs.filter((l) => l.includes('"msg":"stopped"') && l.includes('"worker"')).length).toBe(2);
    expect(recordedRows(db).map((r) => [r.user, r.prompt_tokens, r.outcome])).toEqual(
      numbers.map((n) => [userOf(n), usageOf(n).prompt_tokens, 'ok']).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  }, 60_000);
});

describe('the server.workers setting', () => {
  it('takes a number of workers or auto, and names the problem otherwise', () => {
    const workers = (value: string) => loadConfig({ cwd: dir, env: {}, argv: [`--server.workers=${value}`] }).config.server.workers;
    expect(loadConfig({ cwd: dir, env: {}, argv: [] }).config.server.workers).toBe(1);
    expect(workers('3')).toBe(3);
    expect(workers('AUTO')).toBe('auto');
    expect(() => workers('0')).toThrow("invalid value for server.workers (from command line): '0' is not auto or a whole number of at least 1");
    expect(() => workers('two')).toThrow(/server\.workers.*'two' is not auto/);
  });
});
