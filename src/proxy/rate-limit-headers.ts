import type { RateLimitSnapshot, RateLimitWindow } from '../store/types.js';
import { parseGoDuration } from './go-duration.js';

type Headers = Record<string, string | string[] | undefined>;

/**
 * Reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}. A kind is
 * present only when the answer carried at least one of its headers, so
 * answers without them change nothing.
 */
export function readRateLimitHeaders(headers: Headers, observedAt: number): RateLimitSnapshot | undefined {
  const requests = readWindow(headers, 'requests', observedAt);
  const tokens = readWindow(headers, 'tokens', observedAt);
  if (!requests && !tokens) return undefined;
  return { observedAt, requests, tokens };
}

function readWindow(headers: Headers, kind: string, observedAt: number): RateLimitWindow | undefined {
  const limit = single(headers[`x-ratelimit-limit-${kind}`]);
  const remaining = single(headers[`x-ratelimit-remaining-${kind}`]);
  const reset = single(headers[`x-ratelimit-reset-${kind}`]);
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined;
  const resetMs = reset === undefined ? undefined : parseGoDuration(reset.trim());
  return {
    maximum: wholeNumber(limit),
    remaining: wholeNumber(remaining),
    reset: resetMs === undefined ? null : Math.round(observedAt + resetMs),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function wholeNumber(text: string | undefined): number | null {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return null;
  return Number(text);
}
