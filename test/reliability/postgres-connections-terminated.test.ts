import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { describePostgres } from '../support/each-store.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf, type CallResult } from '../support/numbered-calls.js';
import { DatabaseSession, waitUntil } from '../support/postgres-sessions.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const CALLS = 16;

/**
 * PostgreSQL ending the proxy's sessions while calls are in flight: what a
 * server shutdown or a failover does (every backend gets 57P01), provoked with
 * pg_terminate_backend on a test database of the shared server.
 */
describePostgres('PostgreSQL ends the sessions of calls in flight (runs the built proxy)', () => {
  let dir: string;
  let db: TestDatabase;
  let session: DatabaseSession;
  let upstream: UpstreamStandIn;
  let proxy: ChildProxy | undefined;
  let upstreamCalls: UpstreamCalls;

  beforeAll(() => void builtProxyMain(), 120_000);
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-pg-terminate-'));
    db = await createTestDatabase();
    session = await DatabaseSession.open(db.url);
    upstream = new UpstreamStandIn();
    upstream.behaviour = {
      kind: 'custom',
      handle: numberedAnswers({ streamEvents: 4, eventGapMs: 5, plainDelayMs: 5 }, (upstreamCalls = new UpstreamCalls())),
    };
  });
  afterEach(async () => {
    proxy?.kill('SIGKILL');
    await proxy?.exited;
    proxy = undefined;
    await session.close().catch(() => undefined);
    await upstream.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps running, answers every call, and records each once from the journal', async () => {
    const upstreamUrl = await upstream.start();
    proxy = await startChildProxy(
      [`--forward.url=${upstreamUrl}`, `--database.url=${db.url}`, `--database.pool-size=${CALLS}`, `--journal.path=${join(dir, 'calls.journal')}`],
      { cwd: dir },
    );
    const running = proxy;
    let exited = false;
    void running.exited.then(() => (exited = true));

    // Every call's row waits to be committed, in a batch whose insert waits for the model's lock (its connection
    // checked out) or queued behind it, when the sessions are ended.
    await session.holdModelLock('gpt-4o');
    const calls: Promise<CallResult>[] = [];
    for (let n = 0; n < CALLS; n++) calls.push(numberedCall(running.url, n, n % 2 === 1));
    await waitUntil(async () => upstreamCalls.answered === CALLS && (await session.waitingForLocks()) >= 1, 'every call waits for its commit');
    await new Promise((r) => setTimeout(r, 300));
    expect(await session.terminateOthers()).toBeGreaterThanOrEqual(1);

    const results = await Promise.all(calls);
    expect(results.filter((r) => !r.completed)).toEqual([]);
    expect(exited).toBe(false);
    const degraded = await (await fetch(`${running.url}/health`)).json();
    expect(degraded).toMatchObject({ status: 'degraded', acceptingCalls: true, database: { writable: false } });

    await session.releaseModelLock('gpt-4o');
    await waitUntil(async () => (await (await fetch(`${running.url}/health`)).json()).status === 'ok', 'the journal is replayed');
    const rows = (await (await fetch(`${running.url}/queries?status=all`)).json()) as { user: string; queryTokens: number; answerTokens: number }[];
    expect(rows.map((r) => r.user).sort()).toEqual(Array.from({ length: CALLS }, (_, n) => userOf(n)).sort());
    for (const r of rows) {
      const n = Number(r.user.slice('caller-'.length));
      expect([r.queryTokens, r.answerTokens]).toEqual([usageOf(n).prompt_tokens, usageOf(n).completion_tokens]);
    }
    expect(exited).toBe(false);
    expect(running.logs.filter((l) => /Unhandled|uncaught/i.test(l))).toEqual([]);
    // The session settings travel in the startup packet: no query queued behind another (pg 9 removes that).
    expect(running.logs.filter((l) => l.includes('already executing a query'))).toEqual([]);
  }, 60_000);
});
