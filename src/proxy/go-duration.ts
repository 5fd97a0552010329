const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, μs: 0.001, ns: 0.000001 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)/y;

// Rate-limit windows reset within minutes or days; a longer "duration" is a broken header, and far longer ones
// (99999999999h) would make a reset time no date can show.
const MAX_MS = 366 * 24 * 3_600_000;

/**
 * Milliseconds in a Go-formatted duration (`120ms`, `6m0s`, `1h2m3.5s`), as
 * OpenAI writes in x-ratelimit-reset-*. Undefined when it is not one, or
 * when it is longer than a year.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text.length === 0) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== start) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return total <= MAX_MS ? total : undefined;
}

/** Milliseconds as OpenAI writes them in x-ratelimit-reset-*: `1s`, `6m0s`, `120ms`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const seconds = Math.ceil(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m${seconds % 60}s` : `${seconds}s`;
}
