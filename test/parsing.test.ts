import { describe, expect, it } from 'vitest';
import { parseZonedTimestamp } from '../src/http/timestamps.js';
import { baseModelName } from '../src/accounting/model-names.js';
import { parseGoDuration } from '../src/proxy/go-duration.js';
import { readRateLimitHeaders } from '../src/proxy/rate-limit-headers.js';

describe('timestamps with a zone', () => {
  it.each([
    ['2024-01-24T14:50+01', '2024-01-24T13:50:00.000Z'],
    ['2024-01-24T14:50:00Z', '2024-01-24T14:50:00.000Z'],
    ['2024-01-24T14:50:00.123Z', '2024-01-24T14:50:00.123Z'],
    ['2024-01-24T14:50:30+01:00', '2024-01-24T13:50:30.000Z'],
    ['2024-01-24T14:50-0130', '2024-01-24T16:20:00.000Z'],
    ['2024-01-24T00:10:00.5+0100', '2024-01-23T23:10:00.500Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(new Date(parseZonedTimestamp(text)!).toISOString()).toBe(iso);
  });

  it.each(['2024-01-24T14:50', '2024-01-24', 'yesterday', '2024-13-01T00:00Z', '2024-02-30T00:00Z', '2024-01-24T25:00Z', ''])('rejects %s', (text) => {
    expect(parseZonedTimestamp(text)).toBeUndefined();
  });
});

describe('Go durations in x-ratelimit-reset-*', () => {
  it.each([
    ['20ms', 20],
    ['120ms', 120],
    ['6m0s', 360_000],
    ['1h2m3.5s', 3_723_500],
    ['17.2s', 17_200],
    ['0s', 0],
    ['1.5us', 0.0015],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 6);
  });

  it.each(['', 'soon', '5', '3x', '1h 2m'])('rejects %s', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  it('turns headers into maxima, remaining and reset instants, null for what is missing or unparsable', () => {
    const at = Date.UTC(2024, 0, 25, 13, 27, 3, 320);
    const snapshot = readRateLimitHeaders(
      {
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-reset-tokens': 'later',
      },
      at,
    );
    expect(snapshot?.requests).toEqual({ maximum: 500, remaining: 499, reset: at + 120 });
    expect(snapshot?.tokens).toEqual({ maximum: null, remaining: null, reset: null });
    expect(readRateLimitHeaders({ 'content-type': 'application/json' }, at)).toBeUndefined();
  });
});

describe('snapshot names', () => {
  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['o1-2024-12-17', 'o1'],
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4-1106-preview', 'gpt-4-1106-preview'],
    ['ft:gpt-4o-2024-08-06:acme::abc123', 'ft:gpt-4o-2024-08-06:acme::abc123'],
  ])('prices %s by %s when it has no price of its own', (model, base) => {
    expect(baseModelName(model)).toBe(base);
  });
});
