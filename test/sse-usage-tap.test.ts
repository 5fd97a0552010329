import { describe, expect, it } from 'vitest';
import { AnswerCapture } from '../src/proxy/answer-capture.js';
import { SseUsageTap } from '../src/proxy/sse-usage-tap.js';

const event = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`;
const content = (text: string) => event({ model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta: { content: text } }], usage: null });
const usageOnly = event({ model: 'gpt-4o-2024-08-06', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7 } });
const DONE = 'data: [DONE]\n\n';

function run(tap: SseUsageTap, chunks: string[]) {
  let forwarded = '';
  for (const c of chunks) for (const part of tap.push(Buffer.from(c))) forwarded += part.toString();
  tap.finish();
  return { forwarded, held: tap.held.map((b) => b.toString()).join('') };
}

describe('SseUsageTap', () => {
  it('passes ordinary chunks through as the same buffers', () => {
    const tap = new SseUsageTap(true, new AnswerCapture(1024));
    const chunk = Buffer.from(content('a') + content('b'));
    expect(tap.push(chunk)[0]).toBe(chunk);
  });

  it('drops the usage-only chunk it asked for, holds [DONE], and reads usage and model', () => {
    const tap = new SseUsageTap(true, new AnswerCapture(1024));
    const { forwarded, held } = run(tap, [content('a') + usageOnly + DONE]);
    expect(forwarded).toBe(content('a'));
    expect(held).toBe(DONE);
    expect(tap.usage).toMatchObject({ promptTokens: 5, completionTokens: 7, cachedTokens: 0, reasoningTokens: 0, audioPromptTokens: 0 });
    expect(tap.model).toBe('gpt-4o-2024-08-06');
  });

  it('keeps the usage chunk, held back, when the caller asked for it', () => {
    const { forwarded, held } = run(new SseUsageTap(false, new AnswerCapture(1024)), [content('a'), usageOnly, DONE]);
    expect(forwarded).toBe(content('a'));
    expect(held).toBe(usageOnly + DONE);
  });

  it('reassembles events split across chunks at any byte', () => {
    const whole = content('héllo') + content('wörld') + usageOnly + DONE;
    const bytes = Buffer.from(whole);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const tap = new SseUsageTap(true, new AnswerCapture(4096));
      let forwarded = Buffer.alloc(0);
      for (const piece of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
        for (const part of tap.push(piece)) forwarded = Buffer.concat([forwarded, part]);
      }
      tap.finish();
      expect(forwarded.toString()).toBe(content('héllo') + content('wörld'));
      expect(tap.held.map((b) => b.toString()).join('')).toBe(DONE);
      expect(tap.usage?.completionTokens).toBe(7);
    }
  });

  it('understands CRLF event boundaries', () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    const { forwarded, held } = run(new SseUsageTap(true, new AnswerCapture(1024)), [crlf(content('a') + usageOnly + DONE)]);
    expect(forwarded).toBe(crlf(content('a')));
    expect(held).toBe(crlf(DONE));
  });

  it('does not hold the stream back for "[DONE]" or a usage key inside generated text', () => {
    const tricky = content('the text says data: [DONE] and "usage":{"x":1}');
    const { forwarded, held } = run(new SseUsageTap(true, new AnswerCapture(1024)), [tricky, content('more')]);
    expect(forwarded).toBe(tricky + content('more'));
    expect(held).toBe('');
  });

  it('holds a Responses API completion event, which carries usage inside "response"', () => {
    const completed = `event: response.completed\n${event({ type: 'response.completed', response: { model: 'gpt-4o-2024-08-06', usage: { input_tokens: 9, output_tokens: 4, input_tokens_details: { cached_tokens: 2 }, output_tokens_details: { reasoning_tokens: 1 } } } })}`;
    const delta = `event: response.output_text.delta\n${event({ type: 'response.output_text.delta', delta: 'hi' })}`;
    const tap = new SseUsageTap(false, new AnswerCapture(1024));
    const { forwarded, held } = run(tap, [delta, completed]);
    expect(forwarded).toBe(delta);
    expect(held).toBe(completed);
    expect(tap.usage).toMatchObject({ promptTokens: 9, completionTokens: 4, cachedTokens: 2, reasoningTokens: 1, audioPromptTokens: 0 });
  });

  it('records the last usage of a stream that reports it on every chunk, and holds back only the last event and [DONE]', () => {
    const withUsage = (text: string, n: number) =>
      event({ model: 'm', choices: [{ index: 0, delta: { content: text } }], usage: { prompt_tokens: 12, completion_tokens: n } });
    const events = Array.from({ length: 20 }, (_, i) => withUsage(`w${i}`, i + 1));
    const tap = new SseUsageTap(false, new AnswerCapture(1024));
    const { forwarded, held } = run(tap, [...events, DONE]);
    expect(forwarded).toBe(events.slice(0, 19).join(''));
    expect(held).toBe(events[19] + DONE);
    expect(tap.usage).toMatchObject({ promptTokens: 12, completionTokens: 20, cachedTokens: 0, reasoningTokens: 0, audioPromptTokens: 0 });
  });

  it('reads CR-only streams, split anywhere', () => {
    const cr = (text: string) => text.replace(/\n/g, '\r');
    const whole = cr(content('a') + usageOnly + DONE);
    for (let at = 1; at < whole.length; at += 7) {
      const tap = new SseUsageTap(true, new AnswerCapture(4096));
      const { forwarded, held } = run(tap, [whole.slice(0, at), whole.slice(at)]);
      expect(forwarded + held, `split at ${at}`).toBe(cr(content('a') + DONE));
      expect(held.trim()).toBe('data: [DONE]');
      expect(tap.usage?.completionTokens).toBe(7);
    }
  });
});
