import OpenAI from 'openai';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describeEachStore } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const refused = async (call: Promise<unknown>) => {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(OpenAI.APIError);
  return err as InstanceType<typeof OpenAI.APIError>;
};

describeEachStore('rate limits', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=either'], { store });
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);

  it('refuses the request past a key rpm with 429, Retry-After and x-ratelimit headers, before forwarding', async () => {
    const { key, id } = await admin.createKey({ user: 'adam', limits: { rpm: 3 } });
    const client = sdkWithKey(h.url, key);
    for (let i = 0; i < 3; i++) await sayHi(client);
    const err = await refused(sayHi(client));
    expect(err.status).toBe(429);
    expect(err.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(err.message).toContain(`key ${id}`);
    const retryAfter = Number(err.headers!.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The minute slides: at most until the next window, plus the part of it in which this window's count still weighs.
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(err.headers!.get('x-ratelimit-limit-requests')).toBe('3');
    expect(err.headers!.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(err.headers!.get('x-ratelimit-reset-requests')).toMatch(/^(\d+m)?\d+(\.\d+)?s$/);
    expect(h.upstream.received).toHaveLength(3);
    // Another key of the same user has its own count.
    await sayHi(sdkWithKey(h.url, (await admin.createKey({ user: 'adam' })).key));
  });

  it('limits a user across keys and x-user calls, and counts tokens per minute', async () => {
    await admin.ok('PUT', '/limits/users/eve', { rpm: 2 });
    const viaKey = sdkWithKey(h.url, (await admin.createKey({ user: 'eve' })).key);
    await sayHi(viaKey);
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'eve' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect((await refused(sayHi(viaKey))).status).toBe(429);
    expect(await admin.ok('GET', '/limits')).toEqual([{ scope: 'user', user: 'eve', rpm: 2, tpm: null }]);

    // 2,000 tokens a minute. A call reserves its prompt and max_tokens, and is charged what it really used once it ends.
    const tokens = sdkWithKey(h.url, (await admin.createKey({ user: 'tom', limits: { tpm: 2000 } })).key);
    h.upstream.usage = { prompt_tokens: 12, completion_tokens: 1500, total_tokens: 1512 };
    const firstCallAt = Date.now();
    await sayHi(tokens, { max_tokens: 1500 });
    h.upstream.usage = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };
    const err = await refused(sayHi(tokens, { max_tokens: 1500 }));
    expect(err.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'tokens' });
    expect(err.headers!.get('x-ratelimit-limit-tokens')).toBe('2000');
    // The minute slides: had a minute begun between the two calls, the first call's 1,512 would have started to fade,
    // by at most the share of a minute gone since it.
    const faded = Math.ceil((1512 * (Date.now() - firstCallAt)) / 60_000);
    expect(Number(err.headers!.get('x-ratelimit-remaining-tokens'))).toBeLessThanOrEqual(2000 - 1512 + faded);
    // 1,512 used: a call that may take 100 more still fits.
    await sayHi(tokens, { max_tokens: 100 });
  });
});

describeEachStore('a rate limit across two instances', (store) => {
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    a = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store });
    b = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store, databaseUrl: a.databaseUrl, upstream: new UpstreamStandIn() });
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('lets exactly rpm requests through in a minute, wherever they arrive', async () => {
    const { key } = await accessAdmin(() => a.url).createKey({ user: 'adam', limits: { rpm: 10 } });
    const clients = [sdkWithKey(a.url, key), sdkWithKey(b.url, key)];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sayHi(clients[i % 2]).then(
          () => 200,
          (e) => (e as InstanceType<typeof OpenAI.APIError>).status,
        ),
      ),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(10);
    expect(results.filter((s) => s === 429)).toHaveLength(20);
  });
});
