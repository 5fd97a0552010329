import type { QueryRecord } from '../../src/store/types.js';

/** A successful, exact chat call; override what a test is about. */
export function aQuery(overrides: Partial<QueryRecord> = {}): QueryRecord {
  return {
    user: 'adam',
    timestamp: Date.UTC(2024, 0, 25, 13, 0, 0),
    durationMs: 120,
    endpoint: '/v1/chat/completions',
    requestedModel: 'gpt-4o',
    model: 'gpt-4o-2024-08-06',
    status: 200,
    outcome: 'ok',
    promptTokens: 1000,
    completionTokens: 500,
    cachedTokens: 0,
    reasoningTokens: 0,
    streamed: false,
    estimated: false,
    ...overrides,
  };
}

/** Dollars for tokens at a price per 1,000, as the proxy prices them. */
export const costOf = (q: Pick<QueryRecord, 'promptTokens' | 'completionTokens'>, per1KQuery: number, per1KAnswer: number) =>
  (q.promptTokens * per1KQuery + q.completionTokens * per1KAnswer) / 1000;

/** Runs work(0..count-1) with at most `width` at a time. */
export async function inParallel(count: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
}
