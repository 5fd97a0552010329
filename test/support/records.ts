import type { QueryRecord } from '../../src/store/types.js';

/** A recorded call with sensible defaults, for tests that need queries at chosen times. */
export function aQuery(overrides: Partial<QueryRecord> & { at: string }): QueryRecord {
  const { at, ...rest } = overrides;
  return {
    user: 'adam',
    timestamp: Date.parse(at),
    durationMs: 5,
    endpoint: '/v1/chat/completions',
    requestedModel: rest.model ?? 'gpt-4-1106-preview',
    model: 'gpt-4-1106-preview',
    status: 200,
    outcome: 'ok',
    promptTokens: 1000,
    completionTokens: 500,
    cachedTokens: 0,
    reasoningTokens: 0,
    streamed: false,
    estimated: false,
    ...rest,
  };
}
