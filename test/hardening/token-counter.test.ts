import { afterAll, describe, expect, it } from 'vitest';
import { createTokenCounter, DEFAULT_COUNTER_LIMITS } from '../../src/proxy/token-counter.js';

const counter = createTokenCounter();
afterAll(() => counter.close());

describe('token counts off the event loop', () => {
  it('starts its worker only when a count needs it, then counts exactly', async () => {
    expect(counter.started).toBe(false);
    expect(await counter.count('o200k_base', [''])).toEqual({ tokens: 0, exact: true });
    expect(counter.started).toBe(false);
    expect(await counter.count('o200k_base', ['Hello world'])).toEqual({ tokens: 2, exact: true });
    expect(await counter.count('cl100k_base', ['Hello world', ' again'])).toEqual({ tokens: 3, exact: true });
    expect(counter.started).toBe(true);
  });

  it('counts 128 KB of one letter in well under a second, close to the slow exact count', async () => {
    const started = performance.now();
    const { tokens, exact } = await counter.count('o200k_base', ['a'.repeat(128 * 1024)]);
    expect(exact).toBe(true);
    // o200k packs a run of one letter into tokens of 8 letters.
    expect(tokens).toBe(16 * 1024);
    expect(performance.now() - started).toBeLessThan(DEFAULT_COUNTER_LIMITS.timeoutMs);
  });

  it('keeps the event loop free while it counts', async () => {
    const text = 'word '.repeat(200_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await counter.count('o200k_base', [text]);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('counts text beyond maxChars as bytes / 4, marked as not exact', async () => {
    const small = createTokenCounter({ ...DEFAULT_COUNTER_LIMITS, maxChars: 10 });
    const r = await small.count('o200k_base', ['Hello world', 'x'.repeat(400)]);
    await small.close();
    const head = await counter.count('o200k_base', ['Hello worl']);
    // "d" and 400 x's are 401 bytes: 101 tokens.
    expect(r).toEqual({ tokens: head.tokens + 101, exact: false });
  });

  it('answers with bytes / 4 when a count outlives its deadline', async () => {
    const hasty = createTokenCounter({ ...DEFAULT_COUNTER_LIMITS, timeoutMs: 1 });
    const r = await hasty.count('o200k_base', ['x'.repeat(4000)]);
    expect(r).toEqual({ tokens: 1000, exact: false });
    await hasty.close();
  });

  it('answers at once with bytes / 4 when too many counts wait', async () => {
    const narrow = createTokenCounter({ ...DEFAULT_COUNTER_LIMITS, maxQueued: 1 });
    // Loaded first, so that the first of the three is being counted (not loading) while the others arrive.
    await narrow.count('o200k_base', ['warm']);
    const results = await Promise.all([0, 1, 2].map(() => narrow.count('o200k_base', ['hello'.repeat(4)])));
    await narrow.close();
    expect(results.filter((r) => !r.exact)).toEqual([{ tokens: 5, exact: false }]);
  });
});
