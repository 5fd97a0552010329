import OpenAI, { toFile } from 'openai';
import { afterEach, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { billedAnswers, jsonAnswer, speechAnswer } from './support/billed-answers.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness;
const admin = adminClient(() => h.url);
afterEach(async () => {
  await h?.close();
});

const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': 'ada' }, maxRetries: 0 });
const chat = (model: string) => client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
const ALL_HISTORY = '2020-01-01T00:00:00Z';
const TEXT_RATES = { per1KQueryTokens: 0.0025, per1KCachedQueryTokens: 0.00125, per1KAnswerTokens: 0.01 };

// 100 prompt tokens: 20 cached, 60 audio, 20 text; 50 answer tokens: 40 audio, 10 text.
const AUDIO_CHAT_USAGE = {
  prompt_tokens: 100,
  completion_tokens: 50,
  total_tokens: 150,
  prompt_tokens_details: { cached_tokens: 20, audio_tokens: 60 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 40, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

describeEachStore('token kinds', (store) => {
  it('prices audio prompt and answer tokens of a chat call at their own rates', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('voice-model', { validFrom: ALL_HISTORY, ...TEXT_RATES, per1KAudioQueryTokens: 0.04, per1KAudioAnswerTokens: 0.08 });
    h.upstream.behaviour = billedAnswers({ usage: AUDIO_CHAT_USAGE });
    await chat('voice-model');
    const [row] = await admin.queries();
    expect(row).toMatchObject({ queryTokens: 100, cachedQueryTokens: 20, audioQueryTokens: 60, answerTokens: 50, audioAnswerTokens: 40 });
    expect(row.cost).toBeCloseTo((20 * 0.0025 + 20 * 0.00125 + 60 * 0.04 + 10 * 0.01 + 40 * 0.08) / 1000, 12);
  });

  it('charges audio tokens at the text rates while the price has no audio rates, and re-prices them when it gets some', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('voice-model', { validFrom: ALL_HISTORY, ...TEXT_RATES });
    h.upstream.behaviour = billedAnswers({ usage: AUDIO_CHAT_USAGE });
    await chat('voice-model');
    expect((await admin.queries())[0].cost).toBeCloseTo((80 * 0.0025 + 20 * 0.00125 + 50 * 0.01) / 1000, 12);
    await admin.postPrice('voice-model', { validFrom: ALL_HISTORY, ...TEXT_RATES, per1KAudioQueryTokens: 0.04, per1KAudioAnswerTokens: 0.08 });
    const expected = (20 * 0.0025 + 20 * 0.00125 + 60 * 0.04 + 10 * 0.01 + 40 * 0.08) / 1000;
    expect((await admin.queries())[0].cost).toBeCloseTo(expected, 12);
    expect((await admin.usage()).cost).toBeCloseTo(expected, 12);
  });

  it('records accepted and rejected prediction tokens, charged as the answer tokens they are part of', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('gpt-4o', { validFrom: ALL_HISTORY, ...TEXT_RATES });
    h.upstream.behaviour = billedAnswers({
      usage: {
        prompt_tokens: 200,
        completion_tokens: 120,
        total_tokens: 320,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 80, rejected_prediction_tokens: 30 },
      },
    });
    await chat('gpt-4o');
    const [row] = await admin.queries();
    expect(row).toMatchObject({ answerTokens: 120, acceptedPredictionTokens: 80, rejectedPredictionTokens: 30 });
    expect(row.cost).toBeCloseTo((200 * 0.0025 + 120 * 0.01) / 1000, 12);
  });

  it('prices prompt tokens written to the cache at the cache-write rate (Responses)', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('cache-model', {
      validFrom: ALL_HISTORY,
      per1KQueryTokens: 0.002,
      per1KCachedQueryTokens: 0.0002,
      per1KCacheWriteTokens: 0.0025,
      per1KAnswerTokens: 0.008,
    });
    h.upstream.behaviour = billedAnswers({
      usage: {
        input_tokens: 1000,
        input_tokens_details: { cached_tokens: 300, cache_write_tokens: 500 },
        output_tokens: 100,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 1100,
      },
    });
    await client().responses.create({ model: 'cache-model', input: 'hi' });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ queryTokens: 1000, cachedQueryTokens: 300, cacheWriteTokens: 500, answerTokens: 100 });
    expect(row.cost).toBeCloseTo((200 * 0.002 + 300 * 0.0002 + 500 * 0.0025 + 100 * 0.008) / 1000, 12);
  });

  it('prices image prompt tokens of an image generation at the catalog’s image rate', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = jsonAnswer('/v1/images/generations', {
      created: 1_700_000_000,
      data: [{ b64_json: Buffer.from('png').toString('base64') }],
      usage: {
        input_tokens: 250,
        input_tokens_details: { text_tokens: 50, image_tokens: 200 },
        output_tokens: 4160,
        output_tokens_details: { image_tokens: 4160, text_tokens: 0 },
        total_tokens: 4410,
      },
    });
    await client().images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse' });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'gpt-image-1', queryTokens: 250, imageQueryTokens: 200, answerTokens: 4160, imageAnswerTokens: 4160 });
    // gpt-image-1 per million: $5 text prompt, $10 image prompt, $40 output.
    expect(row.cost).toBeCloseTo((50 * 0.005 + 200 * 0.01 + 4160 * 0.04) / 1000, 12);
  });

  it('prices a token-billed transcription’s audio tokens at the audio rate', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = jsonAnswer('/v1/audio/transcriptions', {
      text: 'Hello.',
      usage: { type: 'tokens', input_tokens: 30, input_token_details: { audio_tokens: 30, text_tokens: 0 }, output_tokens: 9, total_tokens: 39 },
    });
    await client().audio.transcriptions.create({ model: 'gpt-4o-transcribe', file: await toFile(Buffer.from('RIFF....WAVE'), 'hello.wav') });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'gpt-4o-transcribe', queryTokens: 30, audioQueryTokens: 30, answerTokens: 9 });
    // gpt-4o-transcribe per million: $6 audio in, $10 out.
    expect(row.cost).toBeCloseTo((30 * 0.006 + 9 * 0.01) / 1000, 12);
  });

  it('prices a duration-billed transcription per minute of audio', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = jsonAnswer('/v1/audio/transcriptions', { text: 'Hello.', usage: { type: 'duration', seconds: 90 } });
    await client().audio.transcriptions.create({ model: 'whisper-1', file: await toFile(Buffer.from('RIFF....WAVE'), 'hello.wav') });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'whisper-1', audioSeconds: 90, queryTokens: 0, priced: true });
    // whisper-1: $0.006 a minute.
    expect(row.cost).toBeCloseTo(1.5 * 0.006, 12);
  });

  it('prices speech per character of the request’s input when the price says so', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('tts-1', { validFrom: ALL_HISTORY, per1KCharacters: 0.015 });
    h.upstream.behaviour = speechAnswer();
    const audio = await client().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello there, world' });
    expect((await audio.arrayBuffer()).byteLength).toBe(4096);
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/audio/speech', model: 'tts-1', inputCharacters: 18 });
    expect(row.cost).toBeCloseTo((18 * 0.015) / 1000, 12);
  });

  it('prices speech per token of the request’s input, counted, when the price is per token', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = speechAnswer();
    await client().audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello there, world' });
    const [row] = await admin.queries();
    // "Hello", " there", ",", " world": 4 tokens, counted because the answer is audio.
    expect(row).toMatchObject({ model: 'gpt-4o-mini-tts', inputCharacters: 18, queryTokens: 4, estimated: true });
    // gpt-4o-mini-tts: $0.60 per million text tokens in.
    expect(row.cost).toBeCloseTo((4 * 0.0006) / 1000, 12);
  });
});
