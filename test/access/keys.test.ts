import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describeEachStore } from '../support/each-store.js';
import { FORWARD_TOKEN, startHarness, type Harness } from '../support/proxy-harness.js';

const refusal = async (call: Promise<unknown>) => {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(OpenAI.APIError);
  return err as InstanceType<typeof OpenAI.APIError>;
};

describeEachStore('keys that name the user', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store });
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);

  it('makes a key whose secret is shown once, and which the official SDK uses as its apiKey', async () => {
    const made = await admin.createKey({ user: 'adam', name: 'laptop' });
    expect(made.key).toMatch(/^oap-[A-Za-z0-9_-]{43}$/);
    expect(made).toMatchObject({ user: 'adam', name: 'laptop', prefix: made.key.slice(0, 12), revokedAt: null, expiresAt: null, spent: 0 });

    const answer = await sayHi(sdkWithKey(h.url, made.key));
    expect(answer.choices[0].message.content).toBe('Hello from the stand-in.');
    // The upstream sees the organisation's key, never the caller's.
    expect(h.upstream.last.headers.authorization).toBe(`Bearer ${FORWARD_TOKEN}`);

    const [row] = await admin.ok('GET', '/queries');
    expect(row).toMatchObject({ user: 'adam', key: made.id });
    expect(await admin.ok('GET', `/queries?key=${made.id}`)).toHaveLength(1);
    expect(await admin.ok('GET', '/queries?key=key_other')).toHaveLength(0);
    expect((await admin.ok('GET', `/usage?key=${made.id}`)).numQueries).toBe(1);

    const listed = await admin.ok('GET', '/keys?user=adam');
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: made.id, user: 'adam', prefix: made.prefix });
    expect(listed[0].key).toBeUndefined();
    expect(await admin.ok('GET', '/keys?user=eve')).toEqual([]);
    // The secret appears nowhere after its creation: not in a later answer, not in the log.
    const everything = JSON.stringify([listed, await admin.ok('GET', `/keys/${made.id}`), await admin.ok('GET', '/queries'), h.logs]);
    expect(everything).not.toContain(made.key);
    expect(everything).not.toContain(made.key.slice(12));
  });

  it('attributes a call to the key user, and refuses an x-user that names someone else', async () => {
    const { key } = await admin.createKey({ user: 'adam' });
    await sayHi(new OpenAI({ baseURL: `${h.url}/v1`, apiKey: key, maxRetries: 0, defaultHeaders: { 'x-user': 'adam' } }));
    const err = await refusal(sayHi(new OpenAI({ baseURL: `${h.url}/v1`, apiKey: key, maxRetries: 0, defaultHeaders: { 'x-user': 'eve' } })));
    expect(err.status).toBe(400);
    expect(err.code).toBe('user_mismatch');
    expect((await admin.ok('GET', '/queries')).map((q: any) => q.user)).toEqual(['adam']);
  });

  it('refuses unknown, malformed, revoked and expired keys with 401 before forwarding anything', async () => {
    const revoked = await admin.createKey({ user: 'adam' });
    expect((await admin.ok('DELETE', `/keys/${revoked.id}`)).revokedAt).toEqual(expect.any(String));
    const expiring = await admin.createKey({ user: 'adam', expiresAt: new Date(Date.now() + 1500).toISOString() });
    await sayHi(sdkWithKey(h.url, expiring.key));
    await new Promise((r) => setTimeout(r, 1600));
    const received = h.upstream.received.length;

    const cases: [string, string][] = [
      [`oap-${'A'.repeat(43)}`, 'invalid_api_key'],
      ['oap-short', 'invalid_api_key'],
      ['sk-an-openai-key', 'missing_api_key'],
      [revoked.key, 'key_revoked'],
      [expiring.key, 'key_expired'],
    ];
    for (const [key, code] of cases) {
      const err = await refusal(sayHi(sdkWithKey(h.url, key)));
      expect(err.status, key).toBe(401);
      expect(err.code, key).toBe(code);
      if (key.length > 20) expect(JSON.stringify(err.error)).not.toContain(key.slice(12));
    }
    // No key at all, only the header the proxy used to trust.
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'adam' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
    });
    expect(res.status).toBe(401);
    expect(h.upstream.received.length).toBe(received);
  });

  it('refuses a model the key is not for with 403, before forwarding', async () => {
    const { key } = await admin.createKey({ user: 'adam', models: ['gpt-4o-mini'] });
    const client = sdkWithKey(h.url, key);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const err = await refusal(sayHi(client));
    expect(err.status).toBe(403);
    expect(err.code).toBe('model_not_allowed');
    expect(h.upstream.received).toHaveLength(1);
  });

  it('404s revoking an unknown key, and revoking twice keeps the first time', async () => {
    expect((await admin.call('DELETE', '/keys/key_nope')).status).toBe(404);
    const made = await admin.createKey({ user: 'adam' });
    const first = await admin.ok('DELETE', `/keys/${made.id}`);
    await new Promise((r) => setTimeout(r, 5));
    expect((await admin.ok('DELETE', `/keys/${made.id}`)).revokedAt).toBe(first.revokedAt);
  });
});

describe('auth.callers', () => {
  let h: Harness;
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);
  const withHeader = (user: string) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': user },
      body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
    });

  it('either: a key when one is sent, else x-user', async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=either']);
    const { key } = await admin.createKey({ user: 'adam' });
    await sayHi(sdkWithKey(h.url, key));
    expect((await withHeader('eve')).status).toBe(200);
    const err = await refusal(sayHi(sdkWithKey(h.url, `oap-${'B'.repeat(43)}`)));
    expect(err.status).toBe(401);
    expect((await admin.ok('GET', '/queries')).map((q: any) => [q.user, q.key])).toEqual([
      ['adam', expect.any(String)],
      ['eve', null],
    ]);
  });

  it('header (the default): x-user as before, and an oap- bearer is not taken for a key', async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`]);
    const { key } = await admin.createKey({ user: 'adam' });
    expect((await withHeader('eve')).status).toBe(200);
    const err = await refusal(sayHi(sdkWithKey(h.url, key)));
    expect(err.status).toBe(401);
    expect(err.code).toBe('missing_user');
  });
});
