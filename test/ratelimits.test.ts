import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { UpstreamStandIn } from './support/upstream-stand-in.js';
import { startProxy } from '../src/server/start-proxy.js';
import { loadConfig } from '../src/config/load-config.js';
import pino from 'pino';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const chat = () => JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const post = (url: string) =>
  request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'adam' }, body: chat() }).then((r) =>
    r.body.text(),
  );

describe('GET /ratelimits', () => {
  it('is {} before the first upstream answer', async () => {
    h = await startHarness();
    expect(await (await fetch(`${h.url}/ratelimits`)).json()).toEqual({});
  });

  it('keeps what the latest answer said, reset = answer time + Go duration', async () => {
    h = await startHarness();
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-ratelimit-limit-requests': '500',
          'x-ratelimit-remaining-requests': '499',
          'x-ratelimit-reset-requests': '20ms',
          'x-ratelimit-limit-tokens': '500000',
          'x-ratelimit-remaining-tokens': '486895',
          'x-ratelimit-reset-tokens': '1h2m3.5s',
        });
        res.end(JSON.stringify({ model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } }));
      },
    };
    const before = Date.now();
    await post(h.url);
    const after = Date.now();
    const limits = await (await fetch(`${h.url}/ratelimits`)).json();
    expect(limits.requests).toMatchObject({ maximum: 500, remaining: 499 });
    expect(limits.tokens).toMatchObject({ maximum: 500000, remaining: 486895 });
    const requestsReset = Date.parse(limits.requests.reset);
    // 20ms means 20 milliseconds (the original read it as 200).
    expect(requestsReset).toBeGreaterThanOrEqual(before + 20);
    expect(requestsReset).toBeLessThanOrEqual(after + 20);
    expect(Date.parse(limits.tokens.reset) - requestsReset).toBe(3_723_500 - 20);
  });

  it('ignores answers without the headers and failed answers, and survives a restart', async () => {
    h = await startHarness();
    await post(h.url);
    const first = await (await fetch(`${h.url}/ratelimits`)).json();
    expect(first.requests.remaining).toBe(499);

    h.upstream.behaviour = { kind: 'json', status: 200, body: { model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } } };
    await post(h.url);
    h.upstream.behaviour = { kind: 'json', status: 429, body: { error: { message: 'slow down' } }, headers: { 'x-ratelimit-remaining-requests': '0' } };
    await post(h.url);
    expect(await (await fetch(`${h.url}/ratelimits`)).json()).toEqual(first);

    // A second proxy process on the same database file sees the same figures.
    const upstream = new UpstreamStandIn();
    const upstreamUrl = await upstream.start();
    const { config } = loadConfig({ cwd: h.dir, env: {}, argv: [`--forward.url=${upstreamUrl}`, `--database.url=${h.dbPath}`, '--server.port=0'] });
    await h.proxy.stop();
    const again = await startProxy(config, pino({ level: 'silent' }));
    try {
      expect(await (await fetch(`${again.url}/ratelimits`)).json()).toEqual(first);
    } finally {
      await again.stop();
      await upstream.stop();
    }
  });
});
