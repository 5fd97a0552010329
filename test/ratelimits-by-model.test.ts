import { afterEach, expect, it } from 'vitest';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

/** The stand-in answers each model with limits of its own, as OpenAI does. */
const LIMITS: Record<string, [number, number]> = { 'gpt-4o': [500, 30_000], o3: [100, 8_000] };

describeEachStore('GET /ratelimits?by=model', (store) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('keeps the latest limits of each answered model apart, and the latest overall as before', async () => {
    h = await startHarness([], { store });
    let served = 0;
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, body, res) => {
        const model = JSON.parse(body.toString()).model as string;
        const [requests, tokens] = LIMITS[model];
        served += 1;
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-ratelimit-limit-requests': String(requests),
          'x-ratelimit-remaining-requests': String(requests - served),
          'x-ratelimit-reset-requests': '1s',
          'x-ratelimit-limit-tokens': String(tokens),
          'x-ratelimit-remaining-tokens': String(tokens - 18 * served),
          'x-ratelimit-reset-tokens': '6m0s',
        });
        res.end(
          JSON.stringify({ id: 'x', object: 'chat.completion', model, choices: [], usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } }),
        );
      },
    };
    for (const model of ['gpt-4o', 'o3', 'gpt-4o']) {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': 'adam' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.text();
    }
    const byModel = await (await fetch(`${h.url}/ratelimits?by=model`)).json();
    expect(Object.keys(byModel)).toEqual(['gpt-4o', 'o3']);
    expect(byModel['gpt-4o'].requests).toMatchObject({ maximum: 500, remaining: 497 });
    expect(byModel.o3.requests).toMatchObject({ maximum: 100, remaining: 98 });
    expect(byModel.o3.tokens).toMatchObject({ maximum: 8_000, remaining: 8_000 - 36 });
    const overall = await (await fetch(`${h.url}/ratelimits`)).json();
    expect(overall.requests).toMatchObject({ maximum: 500, remaining: 497 });
    const bad = await fetch(`${h.url}/ratelimits?by=user`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toContain("'user'");
  });
});
