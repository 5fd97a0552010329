import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { describePostgres } from '../support/each-store.js';
import { DatabaseSession, waitUntil } from '../support/postgres-sessions.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const ROWS = 60_000;
const PROMPT = 1_000;
const ANSWER = 500;

/**
 * kill -9 in the middle of a large re-price: the price is stored, some rows
 * are re-priced and some not. Whichever instance starts next (or is running)
 * must finish the re-price, with no admin posting the price again.
 */
describePostgres('a re-price cut off by kill -9 (runs the built proxy)', () => {
  let dir: string;
  let db: TestDatabase;
  let session: DatabaseSession;
  let upstreamUrl: string;
  let upstream: UpstreamStandIn;
  let proxy: ChildProxy | undefined;

  beforeAll(() => void builtProxyMain(), 120_000);
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-reprice-kill-'));
    db = await createTestDatabase();
    upstream = new UpstreamStandIn();
    upstreamUrl = await upstream.start();
  });
  afterEach(async () => {
    proxy?.kill('SIGKILL');
    await proxy?.exited;
    proxy = undefined;
    await session?.close().catch(() => undefined);
    await upstream.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const startProxy = () =>
    startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${db.url}`, '--prices.catalog=false', `--journal.path=${join(dir, 'calls.journal')}`], {
      cwd: dir,
    });

  it('is finished by the next instance to start', async () => {
    proxy = await startProxy();
    session = await DatabaseSession.open(db.url);
    // A long history of one model, unpriced, written straight into the table the proxy created.
    await session.query(
      `INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome, duration_ms,
         prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
       SELECT $1::bigint + i, 'user-' || (i % 50), '/v1/chat/completions', 'house-model', 'house-model', 'house-model', 200, 'ok', 10,
         $2, $3, 0, 0, 0, 0, 0, 0
       FROM generate_series(1, $4::int) AS i`,
      [Date.UTC(2024, 0, 1), PROMPT, ANSWER, ROWS],
    );
    // The newest row is locked, so the re-price stops short of it, past the point where the price is committed.
    await session.query('BEGIN');
    await session.query('SELECT id FROM queries WHERE id = (SELECT MAX(id) FROM queries) FOR UPDATE');
    const posted = fetch(`${proxy.url}/model/house-model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.002, per1KAnswerTokens: 0.004 }),
    }).catch(() => undefined);
    await waitUntil(
      async () => (await session.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'transactionid'")).length > 0,
      'the re-price waits for the locked row',
    );
    proxy.kill('SIGKILL');
    await proxy.exited;
    proxy = undefined;
    await posted;
    await session.query('ROLLBACK');
    const [cut] = await session.query<{ repriced: number }>('SELECT COUNT(*) FILTER (WHERE priced = 1)::int AS repriced FROM queries');
    expect(cut.repriced).toBeLessThan(ROWS);

    proxy = await startProxy();
    const perRow = (PROMPT * 0.002 + ANSWER * 0.004) / 1000;
    const running = proxy;
    await waitUntil(async () => (await (await fetch(`${running.url}/usage`)).json()).numQueries === ROWS, 'the history is readable');
    await waitUntil(
      async () => (await session.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM queries WHERE priced = 0'))[0].n === 0,
      'every row of the history is re-priced',
      30_000,
    );
    const usage = await (await fetch(`${running.url}/usage`)).json();
    expect(usage.cost).toBeCloseTo(ROWS * perRow, 6);
  }, 90_000);
});
