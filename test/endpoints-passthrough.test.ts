import OpenAI, { toFile } from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { IMAGES_USAGE, RESPONSES_USAGE, TRANSCRIPTION_USAGE } from './support/endpoint-answers.js';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness;
const admin = adminClient(() => h.url);
beforeEach(async () => {
  // A small JSON limit proves that multipart uploads are not held to it.
  h = await startHarness(['--prices.catalog=false', '--server.body-limit=4kb']);
});
afterEach(async () => {
  await h.close();
});

const client = (user = 'ada') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

describe('other /v1/* endpoints pass through and are recorded', () => {
  it('GET /v1/models: answered as the upstream sent it, recorded with no tokens and not estimated', async () => {
    const page = await client().models.list();
    expect(page.data.map((m) => m.id)).toEqual(['gpt-4o', 'gpt-4.1', 'text-embedding-3-small']);
    const one = await client().models.retrieve('gpt-4o');
    expect(one.id).toBe('gpt-4o');
    expect(h.upstream.last.headers.authorization).toBe(`Bearer ${FORWARD_TOKEN}`);
    const rows = await admin.queries();
    expect(rows.map((r) => r.endpoint)).toEqual(['/v1/models', '/v1/models/gpt-4o']);
    for (const row of rows) {
      expect(row).toMatchObject({ user: 'ada', model: '', status: 200, queryTokens: 0, answerTokens: 0, cost: 0, estimated: false });
    }
  });

  it('GET /v1/models without x-user: 401 and nothing forwarded or recorded', async () => {
    const res = await fetch(`${h.url}/v1/models`);
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toMatch(/x-user/);
    expect(h.upstream.received).toHaveLength(0);
    expect(await admin.queries('?status=all')).toEqual([]);
  });

  it('POST /v1/files: a multipart upload larger than the JSON limit reaches the upstream byte for byte', async () => {
    const content = Buffer.alloc(64 * 1024, '{"prompt":"x","completion":"y"}\n');
    const file = await client().files.create({ file: await toFile(content, 'train.jsonl'), purpose: 'fine-tune' });
    expect(file).toMatchObject({ id: 'file-standin', filename: 'train.jsonl', purpose: 'fine-tune' });
    const sent = h.upstream.last;
    expect(sent.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(sent.body.includes(content)).toBe(true);
    expect(file.bytes).toBe(sent.body.length);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/files', status: 200, model: '', requestedModel: null, queryTokens: 0, answerTokens: 0, estimated: false });
  });

  it('POST /v1/images/generations: records the input and output tokens the answer reports, for the requested model', async () => {
    await admin.postPrice('gpt-image-1', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.005, per1KAnswerTokens: 0.04 });
    const image = await client().images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse' });
    expect(image.data?.[0].b64_json).toBeTruthy();
    const [row] = await admin.queries();
    expect(row).toMatchObject({
      endpoint: '/v1/images/generations',
      model: 'gpt-image-1',
      queryTokens: IMAGES_USAGE.input_tokens,
      answerTokens: IMAGES_USAGE.output_tokens,
      estimated: false,
      priced: true,
    });
    expect(row.cost).toBeCloseTo((50 * 0.005 + 4160 * 0.04) / 1000, 12);
  });

  it('POST /v1/audio/transcriptions: a multipart upload, priced by the model field it carries and the usage its answer reports', async () => {
    await admin.postPrice('gpt-4o-transcribe', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.006, per1KAnswerTokens: 0.01 });
    const audio = Buffer.alloc(20_000, 7);
    // The client writes the file part first: the model field comes after 20 kB of audio.
    const answer = await client().audio.transcriptions.create({ file: await toFile(audio, 'hello.wav'), model: 'gpt-4o-transcribe' });
    expect(answer.text).toBe('Hello from the stand-in.');
    expect(h.upstream.last.body.includes(audio)).toBe(true);
    const [row] = await admin.queries();
    expect(row).toMatchObject({
      endpoint: '/v1/audio/transcriptions',
      model: 'gpt-4o-transcribe',
      requestedModel: 'gpt-4o-transcribe',
      queryTokens: TRANSCRIPTION_USAGE.input_tokens,
      answerTokens: TRANSCRIPTION_USAGE.output_tokens,
      estimated: false,
      priced: true,
    });
    expect(row.cost).toBeCloseTo((30 * 0.006 + 9 * 0.01) / 1000, 12);
  });

  it('POST /v1/moderations: no usage in the answer, so no tokens and no estimate', async () => {
    const answer = await client().moderations.create({ model: 'omni-moderation-latest', input: 'a long enough text to count tokens in' });
    expect(answer.results[0].flagged).toBe(false);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/moderations', model: 'omni-moderation-2024-09-26', queryTokens: 0, answerTokens: 0, estimated: false });
  });

  it('GET /v1/responses/{id}: a retrieval does not count the usage of the call that created the response again', async () => {
    h.upstream.behaviour = {
      kind: 'json',
      status: 200,
      body: { id: 'resp_1', object: 'response', model: 'gpt-4o-2024-08-06', status: 'completed', usage: RESPONSES_USAGE },
    };
    const res = await fetch(`${h.url}/v1/responses/resp_1`, { headers: { 'x-user': 'ada' } });
    expect((await res.json()).usage).toEqual(RESPONSES_USAGE);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/responses/resp_1', status: 200, queryTokens: 0, answerTokens: 0, cost: 0, estimated: false });
  });

  it('records upstream errors on any endpoint with their status; /queries shows them when asked', async () => {
    h.upstream.behaviour = { kind: 'json', status: 404, body: { error: { message: 'No such File object: file-x', type: 'invalid_request_error' } } };
    const res = await fetch(`${h.url}/v1/files/file-x`, { method: 'DELETE', headers: { 'x-user': 'ada' } });
    expect(res.status).toBe(404);
    expect(await admin.queries()).toEqual([]);
    const [row] = await admin.queries('?status=all');
    expect(row).toMatchObject({ endpoint: '/v1/files/file-x', status: 404, estimated: false });
  });
});

describe('the endpoint filter', () => {
  it('/queries and /usage count only the endpoint asked for', async () => {
    await admin.postPrice('text-embedding-3-small', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.00002 });
    await client().embeddings.create({ model: 'text-embedding-3-small', input: 'one' });
    await client().models.list();
    await client().embeddings.create({ model: 'text-embedding-3-small', input: 'two' });

    const rows = await admin.queries('?endpoint=/v1/embeddings');
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.endpoint === '/v1/embeddings')).toBe(true);
    const embeddings = await admin.usage('?endpoint=%2Fv1%2Fembeddings');
    expect(embeddings).toMatchObject({ numQueries: 2, queryTokens: 16, answerTokens: 0, unpricedQueries: 0 });
    expect(embeddings.cost).toBeGreaterThan(0);
    expect(await admin.usage('?endpoint=/v1/models')).toMatchObject({ numQueries: 1, queryTokens: 0, cost: 0 });
    expect(await admin.usage('?endpoint=/v1/chat/completions')).toMatchObject({ numQueries: 0 });
  });

  it('shows the endpoint right after the original fields', async () => {
    await client().models.list();
    const res = await fetch(`${h.url}/queries`);
    const [row] = (await res.json()) as Record<string, unknown>[];
    expect(Object.keys(row).slice(0, 7)).toEqual(['user', 'model', 'timestamp', 'queryTokens', 'answerTokens', 'cost', 'endpoint']);
  });

  it('rejects an endpoint filter that is not a path', async () => {
    const body = await admin.getJson('/usage?endpoint=embeddings', 400);
    expect(JSON.stringify(body)).toMatch(/endpoint/);
  });
});
