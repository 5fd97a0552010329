import OpenAI from 'openai';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describePostgres } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { POSTGRES_ADMIN_URL } from '../support/test-database.js';
import { STAND_IN_USAGE } from '../support/upstream-stand-in.js';

/**
 * PostgreSQL going away, without stopping the server other tests share: the
 * test's own database stops taking connections and its sessions are ended.
 */
async function setDatabaseOnline(name: string, online: boolean): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    // Identifiers cannot be bound; the name is the harness's own oap_test_[0-9a-f]+.
    if (!/^oap_test_[0-9a-f]+$/.test(name)) throw new Error(`not a test database: ${name}`);
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${online ? 'true' : 'false'}`);
    if (!online) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  } finally {
    await admin.end();
  }
}

describePostgres('PostgreSQL down', () => {
  let h: Harness;
  let database: string;
  beforeEach(async () => {
    h = await startHarness([], { store: 'postgres' });
    database = new URL(h.databaseUrl).pathname.slice(1);
  });
  afterEach(async () => {
    await setDatabaseOnline(database, true);
    await h.close();
  });

  it('keeps proxying into the journal and writes every call once PostgreSQL is back', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'x', defaultHeaders: { 'x-user': 'ada' }, maxRetries: 0 });
    const ask = async (stream: boolean) => {
      if (!stream) return (await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })).choices[0].message.content;
      let text = '';
      for await (const c of await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })) {
        text += c.choices[0]?.delta?.content ?? '';
      }
      return text;
    };
    await ask(false);
    await setDatabaseOnline(database, false);

    for (let i = 0; i < 3; i++) {
      expect(await ask(false)).toBeTruthy();
      expect(await ask(true)).toBeTruthy();
    }
    const degraded = await (await fetch(`${h.url}/health`)).json();
    expect(degraded.status).toBe('degraded');
    expect(degraded.journal.pending).toBe(6);
    expect((await fetch(`${h.url}/usage`)).status).toBe(503);

    await setDatabaseOnline(database, true);
    await expect.poll(async () => (await (await fetch(`${h.url}/health`)).json()).status, { timeout: 15_000 }).toBe('ok');
    const rows = (await (await fetch(`${h.url}/queries`)).json()) as Record<string, any>[];
    expect(rows).toHaveLength(7);
    expect(rows.every((r) => r.queryTokens === STAND_IN_USAGE.prompt_tokens && r.answerTokens === STAND_IN_USAGE.completion_tokens)).toBe(true);
    expect(rows.filter((r) => r.streamed)).toHaveLength(3);
  });
});
