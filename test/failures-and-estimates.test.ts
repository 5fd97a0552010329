import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ANSWER_WORDS } from './support/upstream-stand-in.js';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const chat = (stream = false) => JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'Say hello' }] });

async function post(body: string, headers: Record<string, string> = { 'x-user': 'adam' }) {
  const res = await request(`${h!.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.statusCode, text: await res.body.text() };
}

const allQueries = async () => (await fetch(`${h!.url}/queries?status=all`)).json() as Promise<Record<string, any>[]>;

describe('calls the proxy rejects itself', () => {
  it('answers 401 without x-user, forwards nothing and records nothing', async () => {
    h = await startHarness();
    for (const headers of [{}, { 'x-user': '' }, { 'x-user': '   ' }] as Record<string, string>[]) {
      const res = await post(chat(), headers);
      expect(res.status).toBe(401);
      const err = JSON.parse(res.text).error;
      expect(err.message).toMatch(/x-user/);
      expect(err).toHaveProperty('type');
      expect(err).toHaveProperty('code');
    }
    expect(h.upstream.received).toHaveLength(0);
    expect(await allQueries()).toEqual([]);
  });

  it('answers 400 to invalid JSON and to a body without a model', async () => {
    h = await startHarness();
    expect((await post('{"model": "gpt-4o",')).status).toBe(400);
    const missing = await post('{"messages":[]}');
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text).error.message).toMatch(/model/);
    expect(h.upstream.received).toHaveLength(0);
    expect(await allQueries()).toEqual([]);
  });

  it('answers 413 to a JSON body over server.body-limit', async () => {
    h = await startHarness(['--server.body-limit=1kb']);
    const res = await post(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(2000) }] }));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text).error.message).toMatch(/limit/);
  });
});

describe('an upstream that fails', () => {
  it('answers 502 with an OpenAI-style error when the upstream refuses connections', async () => {
    h = await startHarness();
    await h.upstream.stop();
    const res = await post(chat());
    expect(res.status).toBe(502);
    const body = JSON.parse(res.text);
    expect(body.error.code).toBe('upstream_unreachable');
    expect(res.text).not.toContain(FORWARD_TOKEN);
  });

  it('answers 504 when the upstream accepts and never answers, and records the timeout', async () => {
    h = await startHarness(['--forward.idle-timeout=300ms']);
    h.upstream.behaviour = { kind: 'hang' };
    const res = await post(chat());
    expect(res.status).toBe(504);
    expect(JSON.parse(res.text).error.code).toBe('upstream_timeout');
    const rows = await allQueries();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 504, outcome: 'timeout', estimated: true });
  });

  it('breaks off the caller’s stream when the upstream resets mid-stream, and records an estimate', async () => {
    h = await startHarness();
    h.upstream.behaviour = { kind: 'reset-mid-stream', afterChunks: 3 };
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'x', defaultHeaders: { 'x-user': 'adam' }, maxRetries: 0 });
    const received: string[] = [];
    const consume = async () => {
      const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta?.content ?? '');
    };
    await expect(consume()).rejects.toThrow();
    expect(received.join('')).toBe(ANSWER_WORDS.slice(0, 2).join(''));
    const [row] = await allQueries();
    expect(row).toMatchObject({ status: 200, outcome: 'upstream_aborted', estimated: true, streamed: true });
    expect(row.answerTokens).toBe(countTokens(ANSWER_WORDS.slice(0, 2).join('')));
    expect(row.queryTokens).toBeGreaterThan(0);
  });

  it('counts tokens with the model’s tokenizer when a stream ends without usage', async () => {
    h = await startHarness();
    h.upstream.behaviour = { kind: 'stream-without-usage' };
    const res = await post(chat(true));
    expect(res.status).toBe(200);
    expect(res.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const [row] = await allQueries();
    expect(row).toMatchObject({ estimated: true, outcome: 'ok', model: 'gpt-4o-2024-08-06' });
    expect(row.answerTokens).toBe(countTokens(ANSWER_WORDS.join('')));
    // 3 for priming the reply, 3 around the one message, then "user" and "Say hello".
    expect(row.queryTokens).toBe(3 + 3 + countTokens('user') + countTokens('Say hello'));
  });

  it('counts a plain answer that carries no usage', async () => {
    h = await startHarness();
    h.upstream.behaviour = {
      kind: 'json',
      status: 200,
      body: {
        id: 'x',
        object: 'chat.completion',
        model: 'gpt-4o-2024-08-06',
        choices: [{ index: 0, message: { role: 'assistant', content: 'four words right here' } }],
      },
    };
    await post(chat());
    const [row] = await allQueries();
    expect(row).toMatchObject({ estimated: true, answerTokens: countTokens('four words right here') });
  });
});

describe('a caller that goes away', () => {
  it('aborts the upstream call and still records what was used', async () => {
    h = await startHarness();
    let upstreamClosed = false;
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta: { content: 'partial answer' } }] })}\n\n`);
        res.on('close', () => (upstreamClosed = true));
      },
    };
    const controller = new AbortController();
    const res = await request(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'adam' },
      body: chat(true),
      signal: controller.signal,
    });
    const reader = res.body[Symbol.asyncIterator]();
    await reader.next();
    controller.abort();
    await expect.poll(() => upstreamClosed, { timeout: 5000 }).toBe(true);
    await expect.poll(async () => (await allQueries()).length, { timeout: 5000 }).toBe(1);
    const [row] = await allQueries();
    expect(row).toMatchObject({ outcome: 'client_aborted', estimated: true, answerTokens: countTokens('partial answer') });
  });
});

describe('the forward token', () => {
  it('never appears in a log line, error or response', async () => {
    h = await startHarness();
    await post(chat());
    await post(chat(true));
    await post('{bad json');
    await h.upstream.stop();
    await post(chat());
    expect(h.logs.length).toBeGreaterThan(0);
    expect(h.logs.join('\n')).not.toContain(FORWARD_TOKEN);
  });

  it("passes the caller's Authorization through, and says so loudly, when no forward.token is configured", async () => {
    h = await startHarness([], { withToken: false });
    await post(chat(), { 'x-user': 'a', authorization: 'Bearer sk-callers-own' });
    expect(h.upstream.last.headers.authorization).toBe('Bearer sk-callers-own');
    expect(h.logs.join('\n')).toMatch(/no forward\.token/i);
  });
});
