import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { JournalingStore } from '../../src/store/journal/journaling-store.js';
import { openPostgresStore } from '../../src/store/postgres/pg-store.js';
import { describePostgres } from '../support/each-store.js';
import { DatabaseSession } from '../support/postgres-sessions.js';
import { aQuery } from '../support/query-records.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from '../support/test-database.js';

/**
 * The connection breaks after the server committed a call's row but before
 * the proxy heard so (a failover at the worst moment). The proxy cannot know,
 * journals the call, and replays it later: the row must still be there once.
 */
describePostgres('a commit whose answer is lost', () => {
  let dir: string;
  let db: TestDatabase;
  let relay: TcpRelay;
  let session: DatabaseSession;
  let store: JournalingStore | undefined;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-in-doubt-'));
    db = await createTestDatabase();
    relay = await TcpRelay.reserve();
    const server = new URL(POSTGRES_ADMIN_URL);
    await relay.start({ host: server.hostname, port: Number(server.port || 5432) });
    session = await DatabaseSession.open(db.url);
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await session.close();
    await relay.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openThroughRelay() {
    const url = new URL(db.url);
    url.port = String(relay.port);
    const database = await openPostgresStore({ url: url.toString() });
    store = await JournalingStore.open(database, { journalPath: join(dir, 'calls.journal'), log: pino({ level: 'silent' }), retryInitialMs: 20 });
    await store.recordQuery(aQuery({ user: 'before' }));
    return store;
  }

  async function replayed(s: JournalingStore) {
    await s.runPass();
    for (let i = 0; i < 100 && s.health().journal.pending > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.health().journal.pending).toBe(0);
    return (await session.query<{ user_name: string }>('SELECT user_name FROM queries ORDER BY id')).map((r) => r.user_name);
  }

  it('is recorded once when the server did commit: the replay finds the transaction committed', async () => {
    const s = await openThroughRelay();
    const cut = relay.cutAtNextCommit(true);
    const recorded = await s.recordQuery(aQuery({ user: 'in-doubt' }));
    await cut;
    expect(recorded.journaled).toBe(true);
    expect(await session.query("SELECT 1 FROM queries WHERE user_name = 'in-doubt'")).toHaveLength(1);
    expect(await replayed(s)).toEqual(['before', 'in-doubt']);
  });

  it('is recorded once when the server never got the COMMIT: the replay writes it', async () => {
    const s = await openThroughRelay();
    const cut = relay.cutAtNextCommit(false);
    const recorded = await s.recordQuery(aQuery({ user: 'in-doubt' }));
    await cut;
    expect(recorded.journaled).toBe(true);
    expect(await replayed(s)).toEqual(['before', 'in-doubt']);
  });
});
