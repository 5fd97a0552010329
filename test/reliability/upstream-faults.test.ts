import { createServer } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_TOKEN, startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall, type RawAnswer } from '../support/raw-call.js';
import { DONE_EVENT, chunkEvent, completionJson, usageEvent } from '../support/sse-events.js';
import type { Behaviour } from '../support/upstream-stand-in.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** A proxy whose upstream waits at most 300 ms between bytes, in front of a stand-in that behaves as told. */
async function proxyWith(behaviour: Behaviour, overrides: string[] = []): Promise<Harness> {
  h = await startHarness(['--forward.idle-timeout=300ms', ...overrides]);
  h.upstream.behaviour = behaviour;
  return h;
}

const custom = (handle: Extract<Behaviour, { kind: 'custom' }>['handle']): Behaviour => ({ kind: 'custom', handle });

const call = (extra: Record<string, unknown> = {}, user = 'adam') =>
  rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders(user), body: chatBody(extra) });

async function rows(): Promise<Record<string, any>[]> {
  const res = await fetch(`${h.url}/queries?status=all`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>[];
}

/** An OpenAI-style error body naming the problem, without the forward token. */
function expectOpenAiError(answer: RawAnswer, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/application\/json/);
  const body = answer.json();
  expect(body.error).toMatchObject({ code, type: expect.any(String), message: expect.any(String) });
  expect(answer.text()).not.toContain(FORWARD_TOKEN);
}

/** The proxy is still up and healthy after the fault. */
async function expectStillUp() {
  const res = await fetch(`${h.url}/health`);
  expect(res.status).toBe(200);
  expect(h.logs.join('')).not.toContain(FORWARD_TOKEN);
}

const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': 'adam' }, maxRetries: 0 });

describe('upstream faults: before any byte is relayed the caller gets 502/504 JSON', () => {
  it('answers 502 when the upstream refuses connections, and records nothing', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    await proxyWith({ kind: 'chat' }, [`--forward.url=http://127.0.0.1:${port}/v1`]);

    const answer = await call();
    expectOpenAiError(answer, 502, 'upstream_unreachable');
    expect(answer.json().error.message).toContain('ECONNREFUSED');
    expect(await rows()).toEqual([]);
    await expectStillUp();
  });

  it('answers 504 when the upstream accepts and never answers, and records the call as a timeout', async () => {
    await proxyWith({ kind: 'hang' });
    const answer = await call();
    expectOpenAiError(answer, 504, 'upstream_timeout');
    const [row] = await rows();
    expect(row).toMatchObject({ status: 504, outcome: 'timeout', estimated: true, user: 'adam' });
    expect(row.queryTokens).toBeGreaterThan(0);
    await expectStillUp();
  });

  it('answers 504 when a JSON answer stalls after its headers, before any of its body was relayed', async () => {
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(completionJson('half an answer').slice(0, 40));
      }),
    );
    const answer = await call();
    expectOpenAiError(answer, 504, 'upstream_timeout');
    expect((await rows())[0]).toMatchObject({ status: 504, outcome: 'timeout', estimated: true });
    await expectStillUp();
  });

  it('answers 502 when the connection is reset in the middle of a JSON answer that was not relayed yet', async () => {
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
        res.write(completionJson('cut short').slice(0, 60));
        setTimeout(() => res.socket?.destroy(), 20);
      }),
    );
    const answer = await call();
    expectOpenAiError(answer, 502, 'upstream_broken');
    expect((await rows())[0]).toMatchObject({ status: 502, outcome: 'upstream_aborted', estimated: true });
    await expectStillUp();
  });
});

describe('upstream faults once an answer has started: the bytes so far, then a broken-off answer', () => {
  it('breaks off a stream whose upstream stalls after the headers, without [DONE], and records it estimated', async () => {
    await proxyWith({ kind: 'headers-then-stall' });
    const answer = await call({ stream: true });
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(false);
    expect(answer.text()).toContain('"role":"assistant"');
    expect(answer.text()).not.toContain('[DONE]');
    expect((await rows())[0]).toMatchObject({ status: 200, outcome: 'timeout', streamed: true, estimated: true });
    await expectStillUp();
  });

  it('breaks off a stream reset mid-way after relaying what arrived, and counts the answer so far', async () => {
    await proxyWith({ kind: 'reset-mid-stream', afterChunks: 4 });
    const answer = await call({ stream: true });
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(false);
    expect(answer.text()).toContain('"content":" from"');
    expect(answer.text()).not.toContain('[DONE]');
    const [row] = await rows();
    expect(row).toMatchObject({ outcome: 'upstream_aborted', streamed: true, estimated: true });
    expect(row.queryTokens).toBeGreaterThan(0);
    expect(row.answerTokens).toBeGreaterThan(0);
    await expectStillUp();
  });

  it('makes the official client raise an error on a stream that was broken off, never a clean end', async () => {
    await proxyWith({ kind: 'reset-mid-stream', afterChunks: 3 });
    const stream = await client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta?.content ?? '');
      })(),
    ).rejects.toThrow();
    expect(seen.join('')).toBe('Hello from');
  });

  it('breaks off a large JSON answer reset after part of it was relayed', async () => {
    const big = completionJson('x'.repeat(400_000), { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
        res.write(big.slice(0, 150_000));
        setTimeout(() => res.write(big.slice(150_000, 300_000)), 30);
        setTimeout(() => res.socket?.destroy(), 80);
      }),
    );
    const answer = await call();
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(false);
    expect(answer.body.length).toBeGreaterThan(0);
    expect(answer.body.length).toBeLessThan(big.length);
    expect((await rows())[0]).toMatchObject({ status: 200, outcome: 'upstream_aborted', estimated: true });
    await expectStillUp();
  });
});

describe('upstream answers that are malformed or lack usage: relayed as sent, recorded (estimated where usage is missing)', () => {
  it('relays a 200 whose body is not valid JSON and records it estimated', async () => {
    const broken = '{"id":"chatcmpl-x","model":"gpt-4o","choices":[{"message":{"content":"Hi there"}}], oops';
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(broken);
      }),
    );
    const answer = await call();
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(true);
    expect(answer.text()).toBe(broken);
    const [row] = await rows();
    expect(row).toMatchObject({ status: 200, outcome: 'ok', estimated: true, model: 'gpt-4o' });
    expect(row.queryTokens).toBeGreaterThan(0);
    await expectStillUp();
  });

  it('relays a stream with a malformed line and still records the exact usage that followed it', async () => {
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunkEvent('Hel'));
        res.write('data: {this is not json\n\n');
        res.write(chunkEvent('lo', { finish: 'stop' }));
        res.write(usageEvent({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 }));
        res.end(DONE_EVENT);
      }),
    );
    const answer = await call({ stream: true });
    expect(answer.complete).toBe(true);
    expect(answer.text()).toContain('data: {this is not json');
    expect(answer.text().endsWith(DONE_EVENT)).toBe(true);
    expect((await rows())[0]).toMatchObject({ queryTokens: 7, answerTokens: 2, estimated: false });
  });

  it('relays a stream whose usage event itself is malformed, and records the call estimated', async () => {
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunkEvent('Hello there', { finish: 'stop' }));
        res.write('data: {"choices":[],"usage":{"prompt_tokens":7,\n\n');
        res.end(DONE_EVENT);
      }),
    );
    const answer = await call({ stream: true });
    expect(answer.complete).toBe(true);
    expect(answer.text().endsWith(DONE_EVENT)).toBe(true);
    const [row] = await rows();
    expect(row).toMatchObject({ estimated: true, outcome: 'ok' });
    expect(row.answerTokens).toBeGreaterThan(0);
  });

  it('records a JSON 200 without usage as estimated, with counted tokens', async () => {
    await proxyWith(
      custom((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completionJson('Four words of answer'));
      }),
    );
    const answer = await call();
    expect(answer.json().choices[0].message.content).toBe('Four words of answer');
    const [row] = await rows();
    expect(row).toMatchObject({ estimated: true, model: 'gpt-4o-2024-08-06', status: 200 });
    expect(row.queryTokens).toBeGreaterThan(0);
    expect(row.answerTokens).toBe(4);
  });

  it('records a streamed 200 without usage as estimated, with counted tokens', async () => {
    await proxyWith({ kind: 'stream-without-usage' });
    const answer = await call({ stream: true });
    expect(answer.complete).toBe(true);
    expect(answer.text().endsWith(DONE_EVENT)).toBe(true);
    const [row] = await rows();
    expect(row).toMatchObject({ estimated: true, streamed: true });
    expect(row.answerTokens).toBeGreaterThan(0);
  });
});
