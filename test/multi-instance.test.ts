import { afterEach, beforeEach, expect, it } from 'vitest';
import { chatThrough } from './support/chat-call.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { costOf, inParallel } from './support/query-records.js';
import { STAND_IN_USAGE, UpstreamStandIn } from './support/upstream-stand-in.js';

/** Two proxies, each with its own upstream stand-in, on one database: one ledger. */
describeEachStore('two proxy instances on one database', (store) => {
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    a = await startHarness(['--prices.catalog=false'], { store });
    b = await startHarness(['--prices.catalog=false'], { store, databaseUrl: a.databaseUrl, upstream: new UpstreamStandIn() });
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  async function get(h: Harness, path: string) {
    const res = await fetch(`${h.url}${path}`);
    expect(res.status, path).toBe(200);
    return res.json() as Promise<any>;
  }

  const chat = (h: Harness, user: string) => chatThrough(h.url, user);

  const standIn = { promptTokens: STAND_IN_USAGE.prompt_tokens, completionTokens: STAND_IN_USAGE.completion_tokens };

  it('uses a price posted to one instance for the costs the other reports, at once', async () => {
    await chat(b, 'adam');
    expect((await get(b, '/usage')).cost).toBe(0);

    const res = await fetch(`${a.url}/model/gpt-4o`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.5, per1KAnswerTokens: 1.5 }),
    });
    expect(res.status).toBe(200);

    expect((await get(b, '/queries'))[0].cost).toBe(costOf(standIn, 0.5, 1.5));
    await chat(b, 'eve');
    expect((await get(b, '/queries?user=eve'))[0].cost).toBe(costOf(standIn, 0.5, 1.5));
    expect(await get(b, '/model/gpt-4o')).toEqual(await get(a, '/model/gpt-4o'));
  });

  it('records concurrent calls through both instances exactly once, and both report the same ledger', async () => {
    const calls = 40;
    await inParallel(calls, 8, (i) => chat(i % 2 === 0 ? a : b, `user-${i}`));

    const rows = await get(a, '/queries');
    expect(rows).toHaveLength(calls);
    expect(new Set(rows.map((r: any) => r.user)).size).toBe(calls);
    expect(a.upstream.received.length + b.upstream.received.length).toBe(calls);
    expect(await get(b, '/queries')).toEqual(rows);
    expect(await get(b, '/usage')).toEqual(await get(a, '/usage'));
    expect((await get(a, '/usage')).numQueries).toBe(calls);
    expect(await get(b, '/models')).toEqual(await get(a, '/models'));
  });

  it('shows the newest upstream rate limits on every instance, whichever instance received them', async () => {
    const answerWith = (h: Harness, remaining: number) => {
      h.upstream.behaviour = {
        kind: 'json',
        status: 200,
        body: { id: 'chatcmpl-x', object: 'chat.completion', model: 'gpt-4o-2024-08-06', choices: [], usage: STAND_IN_USAGE },
        headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': String(remaining), 'x-ratelimit-reset-requests': '1s' },
      };
    };
    // Rate limits are written off the hot path (PostgreSQL), so the other instance sees them a moment later.
    const remainingOn = (h: Harness) => expect.poll(async () => (await get(h, '/ratelimits')).requests?.remaining, { timeout: 5_000 });
    answerWith(a, 499);
    await chat(a, 'adam');
    answerWith(b, 321);
    await chat(b, 'adam');
    await remainingOn(b).toBe(321);
    await remainingOn(a).toBe(321);
    answerWith(a, 123);
    await chat(a, 'adam');
    await remainingOn(a).toBe(123);
    await remainingOn(b).toBe(123);
  });
});
