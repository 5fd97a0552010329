import OpenAI from 'openai';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachStore } from './support/each-store.js';
import { ANSWER_WORDS, STAND_IN_USAGE } from './support/upstream-stand-in.js';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';

describeEachStore('chat completions through the official openai client', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([], { store });
  });
  afterEach(async () => {
    await h.close();
  });

  const client = (user = 'adam') =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

  async function queries(params = '') {
    const res = await fetch(`${h.url}/queries${params}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, any>[];
  }

  it('forwards a plain call, injects the forward token and records exact usage', async () => {
    const answer = await client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0].message.content).toBe(ANSWER_WORDS.join(''));
    expect(answer.usage?.prompt_tokens).toBe(12);
    expect(h.upstream.last.headers.authorization).toBe(`Bearer ${FORWARD_TOKEN}`);
    expect(h.upstream.last.headers['x-user']).toBeUndefined();
    const rows = await queries();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      user: 'adam', model: 'gpt-4o-2024-08-06', requestedModel: 'gpt-4o', queryTokens: 12, answerTokens: 6,
      endpoint: '/v1/chat/completions', status: 200, streamed: false, estimated: false,
    });
  });

  it('streams, asks upstream for usage, hides the extra usage chunk and records exact usage', async () => {
    const stream = await client('eve').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(ANSWER_WORDS.join(''));
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    const sent = JSON.parse(h.upstream.last.body.toString());
    expect(sent.stream_options).toEqual({ include_usage: true });
    const [row] = await queries('?user=eve');
    expect(row).toMatchObject({ queryTokens: STAND_IN_USAGE.prompt_tokens, answerTokens: STAND_IN_USAGE.completion_tokens, streamed: true, estimated: false });
  });

  it('passes the usage chunk through when the caller asked for it', async () => {
    const stream = await client().chat.completions.create({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 6 });
  });
});
