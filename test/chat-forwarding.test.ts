import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

  const client = (user = 'adam') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

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
      user: 'adam',
      model: 'gpt-4o-2024-08-06',
      requestedModel: 'gpt-4o',
      queryTokens: 12,
      answerTokens: 6,
      endpoint: '/v1/chat/completions',
      status: 200,
      streamed: false,
      estimated: false,
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
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 6 });
  });

  describe('tool calls', () => {
    it('relays streamed tool-call deltas the client reassembles, and records the usage', async () => {
      h.upstream.behaviour = {
        kind: 'custom',
        handle: (_req, body, res) => {
          const sent = JSON.parse(body.toString());
          expect(sent.tools[0].function.name).toBe('get_weather');
          const chunk = (delta: object, finish: string | null = null) =>
            `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta, finish_reason: finish }], usage: null })}\n\n`;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }));
          res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }));
          res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }));
          res.write(chunk({}, 'tool_calls'));
          res.write(
            `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', choices: [], usage: { prompt_tokens: 80, completion_tokens: 15, completion_tokens_details: { reasoning_tokens: 0 }, prompt_tokens_details: { cached_tokens: 64 } } })}\n\n`,
          );
          res.end('data: [DONE]\n\n');
        },
      };
      const runner = client().chat.completions.stream({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0].message.tool_calls![0];
      expect(call.type === 'function' && call.function.arguments).toBe('{"city":"Paris"}');
      const [row] = await queries();
      expect(row).toMatchObject({ queryTokens: 80, answerTokens: 15, cachedQueryTokens: 64, estimated: false, streamed: true });
    });
  });
});
