import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describeEachStore } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { slowChat } from '../support/slow-chat.js';
import { STAND_IN_USAGE, UpstreamStandIn } from '../support/upstream-stand-in.js';

/** At $1 per 1,000 tokens either way, one stand-in call costs this much. */
const CALL_USD = (STAND_IN_USAGE.prompt_tokens + STAND_IN_USAGE.completion_tokens) / 1000;

const outcome = (call: Promise<unknown>) =>
  call.then(
    () => 'ok' as const,
    (err: unknown) => {
      if (err instanceof OpenAI.APIError && err.status === 429) return err;
      throw err;
    },
  );

describeEachStore('budgets', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=either', '--prices.catalog=false'], { store });
    await admin.price('gpt-4o', 1, 1);
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);

  /** Calls until the first refusal (at most 10); how many were answered, and the refusal. */
  async function spendUntilRefused(call: (i: number) => Promise<unknown>) {
    for (let i = 0; i < 10; i++) {
      const result = await outcome(call(i));
      if (result !== 'ok') return { answered: i, refusal: result as InstanceType<typeof OpenAI.APIError> };
    }
    throw new Error('ten calls and no refusal');
  }
  /** The reservation a refusal names ("may cost up to $x"). */
  const needed = (err: Error) => Number(/may cost up to \$([\d.e-]+)/.exec(err.message)?.[1]);

  it('refuses a key over its budget with 429 insufficient_quota, naming the budget, its period and when it resets', async () => {
    const budget = 0.05;
    const { key, id } = await admin.createKey({ user: 'adam', budget: { usd: budget, period: 'month' } });
    const client = sdkWithKey(h.url, key);
    const { answered, refusal: err } = await spendUntilRefused(() => sayHi(client, { max_tokens: 6 }));
    expect(answered).toBeGreaterThanOrEqual(1);
    expect(err.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    const nextMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1)).toISOString();
    expect(err.message).toContain(`monthly budget of key ${id}`);
    expect(err.message).toContain(`resets at ${nextMonth}`);
    expect(err.headers!.get('x-should-retry')).toBe('false');
    expect(h.upstream.received).toHaveLength(answered);
    // Refused because the most this call could cost no longer fits, not before.
    expect(answered * CALL_USD).toBeLessThanOrEqual(budget);
    expect(answered * CALL_USD + needed(err)).toBeGreaterThan(budget);
    expect(needed(err)).toBeGreaterThanOrEqual(CALL_USD);

    const shown = await admin.ok('GET', `/budgets/keys/${id}`);
    expect(shown).toMatchObject({ scope: 'key', key: id, period: 'month', resetsAt: nextMonth, reserved: 0 });
    expect(shown.spent).toBeCloseTo(CALL_USD * answered, 9);
    expect((await admin.ok('GET', `/keys/${id}`)).budget.spent).toBeCloseTo(CALL_USD * answered, 9);
  });

  it('counts a user budget over every key of the user and over x-user calls, from what was spent before it was set', async () => {
    const headerCall = async () => {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': 'adam' },
        body: JSON.stringify({ model: 'gpt-4o', max_tokens: 6, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = await res.json();
      if (res.status !== 200) throw OpenAI.APIError.generate(res.status, body.error, undefined, res.headers);
    };
    await headerCall();
    const budget = CALL_USD * 4;
    await admin.ok('PUT', '/budgets/users/adam', { usd: budget, period: 'day' });
    const a = sdkWithKey(h.url, (await admin.createKey({ user: 'adam' })).key);
    const b = sdkWithKey(h.url, (await admin.createKey({ user: 'adam' })).key);
    const calls = [() => sayHi(a, { max_tokens: 6 }), () => sayHi(b, { max_tokens: 6 }), headerCall];
    const { answered } = await spendUntilRefused((i) => calls[i % 3]());
    expect(answered).toBeGreaterThanOrEqual(1);
    for (const call of calls) expect(await outcome(call())).toBeInstanceOf(OpenAI.APIError);
    // Another user is not held by adam's budget.
    await sayHi(sdkWithKey(h.url, (await admin.createKey({ user: 'eve' })).key), { max_tokens: 6 });
    const [state] = await admin.ok('GET', '/budgets');
    expect(state).toMatchObject({ scope: 'user', user: 'adam', usd: budget, period: 'day' });
    expect(state.spent).toBeCloseTo(CALL_USD * (1 + answered), 9);
    expect(state.spent).toBeLessThanOrEqual(budget);
  });

  it('a global budget holds everyone; removing it lets calls through again', async () => {
    // Room for one call's reservation (about $0.03 here), not for a second after it.
    await admin.ok('PUT', '/budgets/global', { usd: 0.04, period: 'total' });
    const client = sdkWithKey(h.url, (await admin.createKey({ user: 'adam' })).key);
    await sayHi(client, { max_tokens: 6 });
    const refused = await outcome(sayHi(client, { max_tokens: 6 }));
    expect((refused as Error).message).toContain('total budget of the proxy');
    expect((refused as Error).message).toContain('does not reset');
    expect((await admin.call('DELETE', '/budgets/global')).status).toBe(204);
    await sayHi(client, { max_tokens: 6 });
    expect((await admin.call('GET', '/budgets/global')).status).toBe(404);
  });

  it('reserves the most a call can cost: a call that could pass what is left is refused', async () => {
    const { key } = await admin.createKey({ user: 'adam', budget: { usd: 0.05, period: 'week' } });
    const client = sdkWithKey(h.url, key);
    // 1,000 answer tokens at $1 per 1,000 could cost $1: more than the budget, whatever it ends up costing.
    expect(await outcome(sayHi(client, { max_tokens: 1000 }))).toBeInstanceOf(OpenAI.APIError);
    await sayHi(client, { max_tokens: 6 });
  });
});

describeEachStore('a budget under 64 concurrent calls through two instances', (store) => {
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    const flags = [`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys', '--prices.catalog=false'];
    a = await startHarness(flags, { store });
    b = await startHarness(flags, { store, databaseUrl: a.databaseUrl, upstream: new UpstreamStandIn() });
    a.upstream.behaviour = slowChat(40);
    b.upstream.behaviour = slowChat(40);
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('is never overshot by more than one call, while about the half it covers gets through', async () => {
    const admin = accessAdmin(() => a.url);
    await admin.price('gpt-4o', 1, 1);
    const budget = 32 * CALL_USD;
    const { key, id } = await admin.createKey({ user: 'adam', budget: { usd: budget, period: 'day' } });
    const clients = [sdkWithKey(a.url, key), sdkWithKey(b.url, key)];
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => outcome(sayHi(clients[i % 2], { max_tokens: 6 }))));

    const answered = results.filter((r) => r === 'ok').length;
    const usage = await admin.ok('GET', `/usage?key=${id}`);
    expect(usage.numQueries).toBe(answered);
    const overshoot = usage.cost - budget;
    expect(overshoot).toBeLessThanOrEqual(CALL_USD + 1e-9);
    // Each call reserves about $0.031 (its prompt bound and max_tokens) against $0.018 spent: even when all 64 arrive
    // before any has ended, the budget admits 18 of the 32 it covers; the rest as reservations are settled.
    expect(answered).toBeGreaterThanOrEqual(18);
    expect(results.filter((r) => r !== 'ok').every((r) => (r as InstanceType<typeof OpenAI.APIError>).code === 'insufficient_quota')).toBe(true);
    const state = await admin.ok('GET', `/budgets/keys/${id}`);
    expect(state.spent).toBeCloseTo(usage.cost, 9);
    expect(state.reserved).toBe(0);
  });
});

describe('budget periods in budgets.timezone', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('shows the period of the configured zone', async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--budgets.timezone=Asia/Tokyo']);
    const state = await accessAdmin(() => h.url).ok('PUT', '/budgets/global', { usd: 1, period: 'day' });
    // Midnight in Tokyo is 15:00 UTC.
    expect(state.resetsAt).toMatch(/T15:00:00\.000Z$/);
  });

  it('refuses an unknown zone at start-up', async () => {
    await expect(startHarness(['--budgets.timezone=Mars/Olympus'])).rejects.toThrow(/budgets\.timezone/);
  });
});
