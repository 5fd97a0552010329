import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { COMPLETIONS_USAGE, EMBEDDINGS_USAGE } from './support/endpoint-answers.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { ANSWER_WORDS } from './support/upstream-stand-in.js';

let h: Harness;
const admin = adminClient(() => h.url);
beforeEach(async () => {
  h = await startHarness(['--prices.catalog=false']);
  await admin.postPrice('text-embedding-3-small', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.00002 });
  await admin.postPrice('gpt-3.5-turbo-instruct', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.0015, per1KAnswerTokens: 0.002 });
});
afterEach(async () => {
  await h.close();
});

const client = (user = 'ada') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

describe('POST /v1/embeddings', () => {
  it('passes the vectors through (base64, as the client asks by default) and records prompt tokens only', async () => {
    const answer = await client().embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    expect(answer.data).toHaveLength(2);
    expect(answer.data[0].embedding).toHaveLength(8);
    expect(answer.data[0].embedding[0]).toBeCloseTo(1 / 9, 6);
    expect(JSON.parse(h.upstream.last.body.toString()).encoding_format).toBe('base64');
    const [row] = await admin.queries();
    expect(row).toMatchObject({
      endpoint: '/v1/embeddings',
      model: 'text-embedding-3-small',
      queryTokens: EMBEDDINGS_USAGE.prompt_tokens,
      answerTokens: 0,
      streamed: false,
      estimated: false,
      priced: true,
    });
    expect(row.cost).toBeCloseTo((EMBEDDINGS_USAGE.prompt_tokens * 0.00002) / 1000, 15);
  });

  it('reads the usage at the end of an answer too large to parse whole', async () => {
    const input = Array.from({ length: 64 }, (_, i) => `text ${i}`);
    const answer = await client().embeddings.create({ model: 'text-embedding-3-small', input, dimensions: 1536, encoding_format: 'float' });
    expect(answer.data).toHaveLength(64);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'text-embedding-3-small', queryTokens: EMBEDDINGS_USAGE.prompt_tokens, estimated: false, priced: true });
  });
});

describe('POST /v1/completions (legacy)', () => {
  it('records a plain completion', async () => {
    const answer = await client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hello' });
    expect(answer.choices[0].text).toBe(ANSWER_WORDS.join(''));
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/completions', queryTokens: 5, answerTokens: 6, streamed: false, estimated: false });
    expect(row.cost).toBeCloseTo((5 * 0.0015 + 6 * 0.002) / 1000, 12);
  });

  it('streams: asks upstream for usage, hides the extra usage chunk and records exact usage', async () => {
    const stream = await client('eve').completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hello', stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(ANSWER_WORDS.join(''));
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(JSON.parse(h.upstream.last.body.toString()).stream_options).toEqual({ include_usage: true });
    const [row] = await admin.queries('?user=eve');
    expect(row).toMatchObject({
      queryTokens: COMPLETIONS_USAGE.prompt_tokens,
      answerTokens: COMPLETIONS_USAGE.completion_tokens,
      streamed: true,
      estimated: false,
      priced: true,
    });
  });

  it('passes the usage chunk through when the caller asked for it', async () => {
    const stream = await client().completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Say hello',
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toEqual(COMPLETIONS_USAGE);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ queryTokens: 5, answerTokens: 6, estimated: false });
  });
});
