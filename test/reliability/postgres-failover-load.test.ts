import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { describePostgres } from '../support/each-store.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf, type CallResult } from '../support/numbered-calls.js';
import { DatabaseSession, waitUntil } from '../support/postgres-sessions.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const CALLS = 2_000;
const CONCURRENCY = 32;

/**
 * As an operator would try it: two instances on one database under load,
 * streamed and plain calls, while every session of the database is ended
 * again and again (what a server restart or failover does to them). No call
 * may be refused or broken, no row lost or written twice.
 */
describe.skipIf(!process.env.OAP_LONG_TESTS)('PostgreSQL sessions ended under load (runs the built proxy)', () => {
  describePostgres('two instances', () => {
    let dir: string;
    let db: TestDatabase;
    let session: DatabaseSession;
    let upstream: UpstreamStandIn;
    const proxies: ChildProxy[] = [];

    beforeAll(() => void builtProxyMain(), 120_000);
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oap-pg-failover-'));
      db = await createTestDatabase();
      session = await DatabaseSession.open(db.url);
      upstream = new UpstreamStandIn();
      upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 6, eventGapMs: 5, plainDelayMs: 10 }, new UpstreamCalls()) };
    });
    afterEach(async () => {
      for (const p of proxies.splice(0)) {
        p.kill('SIGKILL');
        await p.exited;
      }
      await session.close().catch(() => undefined);
      await upstream.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`answers and records ${CALLS} calls exactly once while sessions are ended every 150 ms`, async () => {
      const upstreamUrl = await upstream.start();
      for (const name of ['a', 'b']) {
        proxies.push(
          await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db.url}`, `--journal.path=${join(dir, `${name}.journal`)}`], { cwd: dir }),
        );
      }
      const exits: string[] = [];
      for (const p of proxies) void p.exited.then(({ code, signal }) => exits.push(`${p.pid}: ${code ?? signal}`));

      let next = 0;
      const results: CallResult[] = [];
      const lane = async () => {
        while (next < CALLS) {
          const n = next++;
          results.push(await numberedCall(proxies[n % 2].url, n, n % 3 === 0));
        }
      };
      let ended = 0;
      let loading = true;
      const terminator = (async () => {
        while (loading) {
          await new Promise((r) => setTimeout(r, 150));
          ended += await session.terminateOthers();
        }
      })();
      await Promise.all(Array.from({ length: CONCURRENCY }, lane));
      loading = false;
      await terminator;

      expect(exits).toEqual([]);
      expect(results.filter((r) => !r.completed).map((r) => `${userOf(r.n)}: ${r.status}`)).toEqual([]);
      for (const p of proxies)
        await waitUntil(async () => (await (await fetch(`${p.url}/health`)).json()).status === 'ok', 'both journals are replayed', 30_000);
      const rows = (await (await fetch(`${proxies[0].url}/queries?status=all`)).json()) as { user: string; queryTokens: number; answerTokens: number }[];
      expect(rows).toHaveLength(CALLS);
      expect(new Set(rows.map((r) => r.user)).size).toBe(CALLS);
      for (const r of rows) {
        const n = Number(r.user.slice('caller-'.length));
        expect([r.queryTokens, r.answerTokens]).toEqual([usageOf(n).prompt_tokens, usageOf(n).completion_tokens]);
      }
      console.log(`${CALLS} calls through two instances while ${ended} database sessions were ended: all answered, each recorded once`);
    }, 180_000);
  });
});
