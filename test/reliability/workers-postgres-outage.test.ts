import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { chatThrough } from '../support/chat-call.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { describePostgres } from '../support/each-store.js';
import { waitUntil } from '../support/postgres-sessions.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from '../support/test-database.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

/**
 * `server.workers=2` started while PostgreSQL refuses connections: the
 * primary does not wait for the database, the workers serve calls into their
 * journals, and everything is written once the database answers.
 */
describePostgres('workers started while PostgreSQL refuses connections (runs the built proxy)', () => {
  let dir: string;
  let db: TestDatabase;
  let relay: TcpRelay;
  let upstream: UpstreamStandIn;
  let proxy: ChildProxy | undefined;

  beforeAll(() => void builtProxyMain(), 120_000);
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-workers-outage-'));
    db = await createTestDatabase();
    relay = await TcpRelay.reserve();
    upstream = new UpstreamStandIn();
  });
  afterEach(async () => {
    if (proxy) {
      proxy.kill('SIGTERM');
      await proxy.exited;
    }
    proxy = undefined;
    await upstream.stop();
    await relay.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listen, journal every call while the database is down, and write each once when it is back', async () => {
    const upstreamUrl = await upstream.start();
    const url = new URL(db.url);
    url.port = String(relay.port);
    proxy = await startChildProxy(
      [`--forward.url=${upstreamUrl}`, `--database.url=${url}`, '--server.workers=2', `--journal.path=${join(dir, 'calls.journal')}`],
      { cwd: dir },
    );
    const running = proxy;
    const health = async () => (await fetch(`${running.url}/health`)).json();
    expect(await health()).toMatchObject({ status: 'degraded', acceptingCalls: true });

    const users = Array.from({ length: 8 }, (_, n) => `caller-${n}`);
    await Promise.all(users.map((user) => chatThrough(running.url, user)));
    expect((await health()).journal.pending).toBe(users.length);

    const server = new URL(POSTGRES_ADMIN_URL);
    await relay.start({ host: server.hostname, port: Number(server.port || 5432) });
    await waitUntil(async () => (await health()).status === 'ok', 'every worker has caught up', 30_000);
    const rows = (await (await fetch(`${running.url}/queries`)).json()) as { user: string; cost: number }[];
    expect(rows.map((r) => r.user).sort()).toEqual([...users].sort());
    expect(rows.every((r) => r.cost > 0)).toBe(true);
  }, 60_000);
});
