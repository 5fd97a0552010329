import { describe, expect, it } from 'vitest';
import { JsonUsageTap } from '../src/proxy/json-usage-tap.js';

describe('JsonUsageTap', () => {
  it('reads usage and model from a small answer', () => {
    const tap = new JsonUsageTap(1024);
    tap.push(Buffer.from('{"model":"gpt-4o-2024-08-06","choices":[{"message":{"content":"\\"usage\\":{\\"prompt_tokens\\":99}"}}],'));
    tap.push(Buffer.from('"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":1}}}'));
    expect(tap.result()).toMatchObject({ model: 'gpt-4o-2024-08-06', usage: { promptTokens: 3, completionTokens: 4, cachedTokens: 1 } });
  });

  it('reads a large answer (embeddings) from its ends without parsing it whole', () => {
    const tap = new JsonUsageTap(1024);
    const vector = JSON.stringify(Array.from({ length: 1536 }, (_, i) => i / 1536));
    tap.push(Buffer.from('{"object":"list","data":['));
    for (let i = 0; i < 200; i++) tap.push(Buffer.from(`${i ? ',' : ''}{"object":"embedding","index":${i},"embedding":${vector}}`));
    tap.push(Buffer.from('],"model":"text-embedding-3-small","usage":{"prompt_tokens":812,"total_tokens":812}}'));
    expect(tap.capture.totalBytes).toBeGreaterThan(1024 * 1024);
    expect(tap.result()).toMatchObject({
      model: 'text-embedding-3-small',
      usage: { promptTokens: 812, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, audioPromptTokens: 0 },
    });
  });

  it('finds no usage in an answer without it', () => {
    const tap = new JsonUsageTap(1024);
    tap.push(Buffer.from('{"object":"list","data":[]}'));
    expect(tap.result().usage).toBeUndefined();
  });
});
