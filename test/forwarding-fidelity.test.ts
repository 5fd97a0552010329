import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await request(h.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user': 'adam', ...headers },
    body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('what reaches the upstream', () => {
  it("forwards the caller's body byte for byte: tools, structured outputs, fields that do not exist yet", async () => {
    const body =
      '{ "model" : "gpt-4o",\n "messages":[{"role":"user","content":"weather in Paris? \\u00e9 😀"}],' +
      '"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],' +
      '"tool_choice":"auto","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}},' +
      '"max_completion_tokens":100,"a_field_from_the_future":{"nested":[1,2.50,null]}, "seed": 12345678901234567890 }';
    const res = await post('/v1/chat/completions', body);
    expect(res.status).toBe(200);
    expect(h.upstream.last.body.toString('utf8')).toBe(body);
  });

  it('splices include_usage into a streamed body and leaves every other byte as sent', async () => {
    const body = '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}],"x_future":1}';
    await post('/v1/chat/completions', body);
    const sent = h.upstream.last.body.toString('utf8');
    expect(sent).toBe(`{"stream_options":{"include_usage":true},${body.slice(1)}`);
  });

  it('sets include_usage when the caller sent stream_options without it, keeping its other options', async () => {
    const body = JSON.stringify({ model: 'gpt-4o', stream: true, stream_options: { include_obfuscation: false }, messages: [] });
    await post('/v1/chat/completions', body);
    expect(JSON.parse(h.upstream.last.body.toString()).stream_options).toEqual({ include_obfuscation: false, include_usage: true });
  });

  it("injects forward.token, never forwards x-user, the caller's key or billing headers, and keeps other headers", async () => {
    await post('/v1/chat/completions', '{"model":"gpt-4o","messages":[]}', {
      authorization: 'Bearer sk-caller',
      'openai-organization': 'org-1',
      'x-custom': 'kept',
    });
    const sent = h.upstream.last.headers;
    expect(sent.authorization).toBe(`Bearer ${FORWARD_TOKEN}`);
    expect(sent['x-user']).toBeUndefined();
    // Which organisation a call bills is the proxy's to say (forward.organization), not the caller's.
    expect(sent['openai-organization']).toBeUndefined();
    expect(sent['x-custom']).toBe('kept');
    expect(h.upstream.last.url).toBe('/v1/chat/completions');
  });

  it('keeps the query string and the path below /v1', async () => {
    const res = await request(`${h.url}/v1/models?limit=2`, { headers: { 'x-user': 'adam' } });
    await res.body.text();
    expect(h.upstream.last.url).toBe('/v1/models?limit=2');
    expect(h.upstream.last.method).toBe('GET');
  });
});

describe('what reaches the caller', () => {
  it("relays the upstream's status, headers and body bytes", async () => {
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_123', 'openai-processing-ms': '42' });
        res.end('{"id":"x","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2},"extra":  true}');
      },
    };
    const res = await post('/v1/chat/completions', '{"model":"gpt-4o","messages":[]}');
    expect(res.headers['x-request-id']).toBe('req_123');
    expect(res.headers['openai-processing-ms']).toBe('42');
    expect(res.text).toBe('{"id":"x","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2},"extra":  true}');
  });

  it('passes upstream errors through with their status and body, and records them apart from successes', async () => {
    const error = { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } };
    h.upstream.behaviour = { kind: 'json', status: 429, body: error, headers: { 'retry-after': '1' } };
    const res = await post('/v1/chat/completions', '{"model":"gpt-4o","messages":[]}');
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text)).toEqual(error);
    expect(res.headers['retry-after']).toBe('1');
    const usage = await (await fetch(`${h.url}/usage`)).json();
    expect(usage.numQueries).toBe(0);
    const all = await (await fetch(`${h.url}/queries?status=all`)).json();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ status: 429, outcome: 'upstream_error', queryTokens: 0, answerTokens: 0 });
  });
});
