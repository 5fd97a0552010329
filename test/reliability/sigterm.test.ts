import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf } from '../support/numbered-calls.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

let dir: string;
let db: string;
let upstream: UpstreamStandIn;
let upstreamUrl: string;
let proxy: ChildProxy | undefined;
let openGate: () => void;
let calls: UpstreamCalls;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oap-term-'));
  db = join(dir, 'queries.db');
  upstream = new UpstreamStandIn();
  upstreamUrl = await upstream.start();
  calls = new UpstreamCalls();
  // Every answer sends its first part, then waits until the test opens the gate.
  const finishGate = new Promise<void>((resolve) => (openGate = resolve));
  upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 4, eventGapMs: 10, plainDelayMs: 10, finishGate }, calls) };
});
afterEach(async () => {
  openGate();
  proxy?.kill('SIGKILL');
  await proxy?.exited;
  proxy = undefined;
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const STREAMS = [0, 1, 2, 3];
const PLAIN = [4, 5];

/** Starts the calls and resolves once every one of them is being answered and every stream has its first bytes. */
async function callsInFlight(url: string) {
  let firstBytes = 0;
  const pending = [...STREAMS.map((n) => numberedCall(url, n, true, () => firstBytes++)), ...PLAIN.map((n) => numberedCall(url, n, false))];
  while (calls.active < STREAMS.length + PLAIN.length || firstBytes < STREAMS.length) await new Promise((r) => setTimeout(r, 10));
  return Promise.all(pending);
}

function connectionRefused(url: string): Promise<boolean> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

function recordedRows() {
  const sqlite = new Database(db, { readonly: true });
  try {
    return sqlite.prepare('SELECT user_name AS user, prompt_tokens, completion_tokens, outcome, estimated FROM queries ORDER BY user_name').all() as {
      user: string;
      prompt_tokens: number;
      completion_tokens: number;
      outcome: string;
      estimated: number;
    }[];
  } finally {
    sqlite.close();
  }
}

describe.skipIf(!process.env.OAP_LONG_TESTS)('SIGTERM (runs the built proxy)', () => {
  // Compiling the proxy (once per version of the sources) can take a while on a busy machine.
  beforeAll(() => void builtProxyMain(), 120_000);

  it('refuses new connections, lets the calls in flight finish within the grace period, records them and exits 0', async () => {
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.shutdown-grace=20s'], { cwd: dir });
    const target = proxy;
    const results = callsInFlight(target.url);
    while (calls.active < 6) await new Promise((r) => setTimeout(r, 10));

    target.kill('SIGTERM');
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      refused = await connectionRefused(target.url);
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).toBe(true);
    // Still running: the calls in flight hold it open.
    expect(await Promise.race([target.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 200))])).toBe('running');

    openGate();
    const done = await results;
    expect(done.map((r) => r.completed)).toEqual([true, true, true, true, true, true]);
    expect(await target.exited).toEqual({ code: 0, signal: null });
    proxy = undefined;
    expect(recordedRows().map((r) => [r.user, r.prompt_tokens, r.completion_tokens, r.outcome])).toEqual(
      [...STREAMS, ...PLAIN].map((n) => [userOf(n), usageOf(n).prompt_tokens, usageOf(n).completion_tokens, 'ok']).sort(),
    );
  });

  it('breaks off what is still running when the grace period ends, records it as estimated, and exits 0', async () => {
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db}`, '--server.shutdown-grace=500ms'], { cwd: dir });
    const target = proxy;
    const results = callsInFlight(target.url);
    while (calls.active < 6) await new Promise((r) => setTimeout(r, 10));

    target.kill('SIGTERM');
    const done = await results;
    expect(done.every((r) => !r.completed)).toBe(true);
    // Plain calls had no byte of their answer yet: they get an honest 503; streams are broken off mid-way.
    expect(done.filter((r) => !r.streamed).map((r) => r.status)).toEqual([503, 503]);
    expect(done.filter((r) => r.streamed).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await target.exited).toEqual({ code: 0, signal: null });
    proxy = undefined;
    const rows = recordedRows();
    expect(rows.map((r) => r.user)).toEqual([...STREAMS, ...PLAIN].map(userOf));
    expect(rows.every((r) => r.outcome === 'shutdown' && r.estimated === 1)).toBe(true);
    expect(target.logs.join('\n')).toContain('grace period over');
  });
});
