import OpenAI from 'openai';
import { afterEach, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { billedAnswers } from './support/billed-answers.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness;
const admin = adminClient(() => h.url);
afterEach(async () => {
  await h?.close();
});

const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': 'ada' }, maxRetries: 0 });
const chat = (model: string) => client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
const chatUsage = (prompt: number, completion: number, cached = 0) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
});
const responsesUsage = (input: number, output: number) => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: input + output,
});

describeEachStore('fine-tuned models', (store) => {
  it('prices a fine-tuned gpt-4o at the catalog’s fine-tuned rates', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(1000, 200) });
    await chat('ft:gpt-4o-2024-08-06:acme:support:A1b2C3');
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'ft:gpt-4o-2024-08-06:acme:support:A1b2C3', priced: true, pricedAtBaseModel: null });
    // Fine-tuned gpt-4o: $3.75 prompt and $15 answer per million.
    expect(row.cost).toBeCloseTo((1000 * 0.00375 + 200 * 0.015) / 1000, 12);
  });

  it('prices a fine-tuned model without fine-tuned rates at its base model’s rates, and says so', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(1000, 200) });
    await chat('ft:gpt-4.1-2025-04-14:acme::B2c3D4');
    const [row] = await admin.queries();
    expect(row).toMatchObject({ priced: true, pricedAtBaseModel: 'gpt-4.1' });
    // gpt-4.1: $2 prompt and $8 answer per million.
    expect(row.cost).toBeCloseTo((1000 * 0.002 + 200 * 0.008) / 1000, 12);
    expect(await admin.usage()).toMatchObject({ unpricedQueries: 0 });
  });

  it('re-prices a fine-tuned model’s calls when its base model gets a price, and again when it gets its own', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(1000, 200) });
    const model = 'ft:house-base:acme::C3d4E5';
    await chat(model);
    expect(await admin.queries()).toMatchObject([{ priced: false, cost: 0 }]);
    await admin.postPrice('house-base', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.001, per1KAnswerTokens: 0.002 });
    expect(await admin.queries()).toMatchObject([
      { priced: true, pricedAtBaseModel: 'house-base', cost: expect.closeTo((1000 * 0.001 + 200 * 0.002) / 1000, 12) },
    ]);
    await admin.postPrice('ft:house-base', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.003, per1KAnswerTokens: 0.006 });
    expect(await admin.queries()).toMatchObject([{ priced: true, pricedAtBaseModel: null, cost: expect.closeTo((1000 * 0.003 + 200 * 0.006) / 1000, 12) }]);
  });
});

describeEachStore('long-context rates', (store) => {
  it('prices a prompt above the threshold wholly at the long-context rates, and one at it at the base rates', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(300_000, 1000, 100_000) });
    await chat('gpt-5.4');
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(271_999, 1000) });
    await chat('gpt-5.4');
    const [long, short] = await admin.queries();
    // gpt-5.4 per million above 271,999 prompt tokens: $5 prompt, $0.50 cached, $22.50 answer.
    expect(long.cost).toBeCloseTo((200_000 * 0.005 + 100_000 * 0.0005 + 1000 * 0.0225) / 1000, 9);
    // At or below: $2.50 prompt, $15 answer.
    expect(short.cost).toBeCloseTo((271_999 * 0.0025 + 1000 * 0.015) / 1000, 9);
  });

  it('takes long-context rates from POST /model', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    const model = await admin.postPrice('long-model', {
      validFrom: '2020-01-01T00:00:00Z',
      per1KQueryTokens: 0.001,
      per1KAnswerTokens: 0.002,
      longContextAbovePromptTokens: 1000,
      longContextPer1KQueryTokens: 0.004,
      longContextPer1KAnswerTokens: 0.008,
    });
    expect(model.costs[0]).toMatchObject({ longContextAbovePromptTokens: 1000, longContextPer1KQueryTokens: 0.004 });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(1001, 10) });
    await chat('long-model');
    expect((await admin.queries())[0].cost).toBeCloseTo((1001 * 0.004 + 10 * 0.008) / 1000, 12);
  });
});

describeEachStore('built-in tool fees', (store) => {
  it('charges web search, file search and code interpreter containers per call, from the answer’s output items', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('tool-model', {
      validFrom: '2020-01-01T00:00:00Z',
      per1KQueryTokens: 0.001,
      per1KAnswerTokens: 0.002,
      per1KWebSearchCalls: 10,
      per1KFileSearchCalls: 2.5,
      per1KCodeInterpreterContainers: 30,
    });
    h.upstream.behaviour = billedAnswers({
      usage: responsesUsage(100, 50),
      toolItems: [
        { id: 'ws_1', type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'weather' } },
        { id: 'ws_2', type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'tides' } },
        { id: 'fs_1', type: 'file_search_call', status: 'completed', queries: ['refunds'], results: null },
        { id: 'ci_1', type: 'code_interpreter_call', status: 'completed', code: '1+1', container_id: 'cntr_a', outputs: null },
        { id: 'ci_2', type: 'code_interpreter_call', status: 'completed', code: '2+2', container_id: 'cntr_a', outputs: null },
        { id: 'ci_3', type: 'code_interpreter_call', status: 'completed', code: '3+3', container_id: 'cntr_b', outputs: null },
      ],
    });
    await client().responses.create({ model: 'tool-model', input: 'hi' });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ webSearchCalls: 2, fileSearchCalls: 1, codeInterpreterContainers: 2 });
    // Tokens (100 × 0.001 + 50 × 0.002) / 1000, then 2 searches at $10/1K, 1 file search at $2.50/1K, 2 containers at $30/1K.
    expect(row.cost).toBeCloseTo((100 * 0.001 + 50 * 0.002) / 1000 + (2 * 10 + 1 * 2.5 + 2 * 30) / 1000, 12);
  });

  it('counts the tool calls of a streamed answer from response.completed, at the catalog’s web search rate', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({
      usage: responsesUsage(1000, 100),
      toolItems: [{ id: 'ws_1', type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'news' } }],
    });
    const stream = await client().responses.create({ model: 'gpt-4.1', input: 'hi', stream: true });
    for await (const _ of stream) void _;
    const [row] = await admin.queries();
    expect(row).toMatchObject({ webSearchCalls: 1, streamed: true });
    // gpt-4.1: $2 and $8 per million tokens, $10 per 1K web searches.
    expect(row.cost).toBeCloseTo((1000 * 0.002 + 100 * 0.008) / 1000 + 10 / 1000, 12);
  });
});
