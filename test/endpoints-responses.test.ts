import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { RESPONSES_USAGE } from './support/endpoint-answers.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { ANSWER_WORDS } from './support/upstream-stand-in.js';

let h: Harness;
const admin = adminClient(() => h.url);
beforeEach(async () => {
  // The bundled catalog is off so every cost here comes from the admin price below.
  h = await startHarness(['--prices.catalog=false']);
  await admin.postPrice('gpt-4o', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.01, per1KCachedQueryTokens: 0.00125 });
});
afterEach(async () => {
  await h.close();
});

const client = (user = 'ada') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

// 24 uncached prompt tokens at 0.0025, 16 cached at 0.00125, 20 completion tokens (8 of them reasoning) at 0.01.
const EXPECTED_COST = (24 * 0.0025 + 16 * 0.00125 + 20 * 0.01) / 1000;
const EXACT_ROW = {
  endpoint: '/v1/responses',
  model: 'gpt-4o-2024-08-06',
  requestedModel: 'gpt-4o',
  status: 200,
  queryTokens: 40,
  answerTokens: 20,
  cachedQueryTokens: 16,
  reasoningTokens: 8,
  estimated: false,
  priced: true,
};

describe('POST /v1/responses through the official openai client', () => {
  it('records the usage of a plain answer, cached prompt tokens at their own price and reasoning tokens not charged twice', async () => {
    const answer = await client().responses.create({ model: 'gpt-4o', input: 'Say hello' });
    expect(answer.output_text).toBe(ANSWER_WORDS.join(''));
    expect(answer.usage?.input_tokens).toBe(RESPONSES_USAGE.input_tokens);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ ...EXACT_ROW, streamed: false });
    expect(row.cost).toBeCloseTo(EXPECTED_COST, 12);
  });

  it('streams every event unchanged and records the usage of response.completed', async () => {
    const stream = await client('eve').responses.create({ model: 'gpt-4o', input: 'Say hello', stream: true });
    const types: string[] = [];
    let text = '';
    let completedUsage;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completedUsage = event.response.usage;
    }
    expect(text).toBe(ANSWER_WORDS.join(''));
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(completedUsage).toEqual(RESPONSES_USAGE);
    // Nothing was injected into a Responses request.
    expect(JSON.parse(h.upstream.last.body.toString())).toEqual({ model: 'gpt-4o', input: 'Say hello', stream: true });
    const [row] = await admin.queries('?user=eve');
    expect(row).toMatchObject({ ...EXACT_ROW, streamed: true });
    expect(row.cost).toBeCloseTo(EXPECTED_COST, 12);
  });

  it('works with the client stream helper and its final response', async () => {
    const stream = client().responses.stream({ model: 'gpt-4o', input: 'Say hello' });
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(ANSWER_WORDS.join(''));
    expect(final.usage).toEqual(RESPONSES_USAGE);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ ...EXACT_ROW, streamed: true });
  });

  it.each(['incomplete', 'failed'] as const)('records the usage carried by response.%s, never free', async (ending) => {
    h.upstream.endpoints.responsesEnding = ending;
    const stream = await client().responses.create({ model: 'gpt-4o', input: 'Say hello', stream: true });
    let last;
    for await (const event of stream) last = event;
    expect(last?.type).toBe(`response.${ending}`);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ ...EXACT_ROW, streamed: true });
    expect(row.cost).toBeCloseTo(EXPECTED_COST, 12);
  });

  it('estimates a failed response that reports no usage, so it still costs something', async () => {
    h.upstream.endpoints.responsesEnding = 'failed';
    h.upstream.endpoints.responsesUsage = null;
    const stream = await client().responses.create({ model: 'gpt-4o', input: 'Say hello to everyone in the room', stream: true });
    for await (const event of stream) void event;
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/responses', estimated: true, priced: true });
    expect(row.queryTokens).toBeGreaterThan(0);
    expect(row.answerTokens).toBeGreaterThan(0);
    expect(row.cost).toBeGreaterThan(0);
  });

  it('a stream broken off before its closing event: the caller sees an error and the call is recorded, estimated', async () => {
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const event = (type: string, fields: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
        res.write(
          event('response.created', {
            response: { id: 'resp_cut', object: 'response', model: 'gpt-4o-2024-08-06', status: 'in_progress', output: [], usage: null },
          }),
        );
        for (const delta of ['Once', ' upon', ' a', ' time'])
          res.write(event('response.output_text.delta', { output_index: 0, content_index: 0, item_id: 'msg', delta }));
        setTimeout(() => res.socket?.destroy(), 20);
      },
    };
    const stream = await client().responses.create({ model: 'gpt-4o', input: 'Tell a story', stream: true });
    await expect(async () => {
      for await (const event of stream) void event;
    }).rejects.toThrow();
    await expect.poll(async () => (await admin.queries('?status=all')).length).toBe(1);
    const [row] = await admin.queries('?status=all');
    expect(row).toMatchObject({ endpoint: '/v1/responses', model: 'gpt-4o-2024-08-06', outcome: 'upstream_aborted', estimated: true, priced: true });
    expect(row.answerTokens).toBe(4);
    expect(row.cost).toBeGreaterThan(0);
  });

  it('holds back the closing event until the query is committed', async () => {
    const res = await fetch(`${h.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'ada' },
      body: JSON.stringify({ model: 'gpt-4o', input: 'hi', stream: true }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes('event: response.completed')) {
        // The row exists by the time the caller can see the closing event.
        expect(await admin.queries()).toHaveLength(1);
      }
    }
    expect(text).toContain('event: response.completed');
  });
});
