import { afterEach, beforeEach, expect, it } from 'vitest';
import { chatThrough } from '../support/chat-call.js';
import { describePostgres } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { waitUntil } from '../support/postgres-sessions.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from '../support/test-database.js';

/**
 * An instance started while PostgreSQL refuses connections (down, restarting,
 * failing over): it serves calls into the journal and catches up, schema,
 * catalog and journal, once the database answers at its address.
 */
describePostgres('starting while PostgreSQL refuses connections', () => {
  let db: TestDatabase;
  let relay: TcpRelay;
  let h: Harness | undefined;
  beforeEach(async () => {
    db = await createTestDatabase();
    relay = await TcpRelay.reserve();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await relay.stop();
    await db.drop();
  });

  it('starts, answers calls, reports degraded, then migrates, loads the catalog and writes every call once the database is back', async () => {
    const url = new URL(db.url);
    url.port = String(relay.port);
    url.password = 'secret-in-the-url';
    h = await startHarness([], { store: 'postgres', databaseUrl: url.toString() });

    const health = async () => (await fetch(`${h!.url}/health`)).json();
    const down = await health();
    expect(down).toMatchObject({ status: 'degraded', acceptingCalls: true, database: { kind: 'postgres', writable: false } });
    expect(down.database.lastError).toContain(`could not connect to PostgreSQL at postgres://postgres:***@127.0.0.1:${relay.port}/${db.name}`);
    expect(JSON.stringify(down)).not.toContain('secret-in-the-url');

    for (const user of ['ann', 'bob', 'cid']) await chatThrough(h.url, user);
    expect((await health()).journal.pending).toBe(3);
    expect((await fetch(`${h.url}/usage`)).status).toBe(503);

    const server = new URL(POSTGRES_ADMIN_URL);
    await relay.start({ host: server.hostname, port: Number(server.port || 5432) });
    await waitUntil(async () => (await health()).status === 'ok', 'the instance has caught up', 20_000);

    const rows = (await (await fetch(`${h.url}/queries`)).json()) as { user: string; cost: number }[];
    expect(rows.map((r) => r.user).sort()).toEqual(['ann', 'bob', 'cid']);
    // The bundled catalog prices gpt-4o: synced on catching up, so the replayed calls are priced.
    expect(rows.every((r) => r.cost > 0)).toBe(true);
    const model = await (await fetch(`${h.url}/model/gpt-4o`)).json();
    expect(model.catalogCosts.length).toBeGreaterThan(0);
  });
});
