import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../src/proxy/go-duration.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { aQuery } from '../support/query-records.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const json = async (path: string, init?: RequestInit) => {
  const res = await fetch(`${h.url}${path}`, init);
  return { status: res.status, body: (await res.json()) as any };
};
const postPrice = (name: string, body: unknown) =>
  json(`/model/${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('rate-limit durations an upstream may send', () => {
  it.each(['99999999999h', '1e400s', `${'9'.repeat(400)}ms`, '400000h'])('reads %s as no reset time', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  it('still reads the durations OpenAI sends', () => {
    expect(parseGoDuration('6m0s')).toBe(360_000);
    expect(parseGoDuration('120ms')).toBe(120);
    expect(parseGoDuration('1h2m3.5s')).toBe(3_723_500);
  });

  it('keeps /ratelimits answering after an upstream sent a reset of 99999999999h', async () => {
    h = await startHarness();
    h.upstream.behaviour = {
      kind: 'json',
      status: 200,
      body: { model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } },
      headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '99999999999h' },
    };
    expect((await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders(), body: chatBody() })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const res = await json('/ratelimits');
      expect(res.status).toBe(200);
      expect(res.body.requests).toEqual({ maximum: 500, remaining: 499, reset: null });
    }
  });

  it('answers /ratelimits with a null reset for a stored time no date can show', async () => {
    h = await startHarness();
    await h.proxy.store.recordQuery(aQuery(), { observedAt: Date.now(), requests: { maximum: 5, remaining: 4, reset: 9e15 } });
    const res = await json('/ratelimits');
    expect(res.status).toBe(200);
    expect(res.body.requests).toEqual({ maximum: 5, remaining: 4, reset: null });
  });
});

describe('prices are bounded', () => {
  it.each([1e308, 1e7, 1000.01])('refuses a price of %s dollars per 1,000 tokens with 400 naming the bound', async (price) => {
    h = await startHarness();
    const res = await postPrice('gpt-4o', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: price });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'invalid_price', message: expect.stringMatching(/per1KQueryTokens must be a number from 0 to 1000/) });
  });

  it('takes the highest price allowed and keeps /usage cost a number', async () => {
    h = await startHarness();
    expect((await postPrice('gpt-4o', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 1000, per1KAnswerTokens: 1000 })).status).toBe(200);
    expect((await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders(), body: chatBody() })).status).toBe(200);
    const usage = await json('/usage');
    expect(usage.status).toBe(200);
    expect(typeof usage.body.cost).toBe('number');
    expect(Number.isFinite(usage.body.cost)).toBe(true);
  });

  it('caps token counts an upstream reports beyond any real call, so that costs and their sums stay numbers', async () => {
    h = await startHarness();
    expect((await postPrice('gpt-4o', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 1000, per1KAnswerTokens: 1000 })).status).toBe(200);
    h.upstream.usage = { prompt_tokens: 1e308, completion_tokens: 9e18, total_tokens: 1e308 };
    for (let i = 0; i < 3; i++) expect((await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders(), body: chatBody() })).status).toBe(200);
    const usage = await json('/usage');
    expect(usage.status).toBe(200);
    expect(usage.body).toMatchObject({ numQueries: 3, queryTokens: 3e9, answerTokens: 3e9, cost: 6e9 });
  });

  it('refuses a price file with a price over the bound at start-up, naming the entry', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'oap-prices-')), 'prices.yaml');
    writeFileSync(file, 'gpt-4o:\n  per1KQueryTokens: 1e308\n');
    await expect(startHarness([`--prices.file=${file}`])).rejects.toThrow(/gpt-4o: per1KQueryTokens must be a number from 0 to 1000/);
  });
});

describe('model names from callers follow the admin API rule', () => {
  it.each([
    ['a megabyte long with NUL and ESC', `gpt\u0000\u001b${'m'.repeat(1 << 20)}`, /1 to 256 characters/],
    ['with a control character', 'gpt\u001b[31m', /control characters/],
    ['with leading spaces', '  gpt-4o', /spaces/],
  ])('refuses a model name %s with 400 before forwarding, and /models never lists it', async (_what, model, message) => {
    h = await startHarness();
    const answer = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders(), body: JSON.stringify({ model, messages: [] }) });
    expect(answer.status).toBe(400);
    expect(answer.json().error).toMatchObject({ code: 'invalid_model', message: expect.stringMatching(message) });
    expect(h.upstream.received).toEqual([]);
    const models = (await json('/models')).body as { name: string }[];
    expect(models.some((m) => m.name.includes('\u001b') || m.name.length > 256)).toBe(false);
  });
});

describe('years 0000 to 0099', () => {
  it.each(['0099-06-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '0001-12-31T23:59:59.000Z'])('keeps validFrom %s as written', async (validFrom) => {
    h = await startHarness();
    const res = await postPrice('gpt-4o', { validFrom, per1KQueryTokens: 0.01 });
    expect(res.status).toBe(200);
    expect(res.body.costs[0].validFrom).toBe(validFrom);
  });

  it('reads after and before in those years as written', async () => {
    h = await startHarness();
    await h.proxy.store.recordQuery(aQuery({ timestamp: Date.parse('0099-06-01T00:00:00Z') }));
    expect((await json('/queries?after=0099-01-01T00:00:00Z&before=0099-12-31T00:00:00Z')).body).toHaveLength(1);
    expect((await json('/queries?after=1999-01-01T00:00:00Z&before=1999-12-31T00:00:00Z')).body).toHaveLength(0);
  });
});
