import type { LooseJson } from '../common/loose-json.js';
import type { TokenCounts } from '../store/types.js';

export type Usage = TokenCounts;

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : 0);

/**
 * Reads an upstream `usage` object in any of OpenAI's shapes: chat and
 * completions (prompt_tokens, completion_tokens, *_details), the Responses
 * API and image generation (input_tokens, output_tokens, *_details), and
 * embeddings (prompt_tokens only). Undefined when it is not a usage object.
 */
export function normaliseUsage(raw: unknown): Usage | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const u = raw as LooseJson;
  const hasChatShape = 'prompt_tokens' in u || 'completion_tokens' in u;
  const hasResponsesShape = 'input_tokens' in u || 'output_tokens' in u;
  if (!hasChatShape && !hasResponsesShape) return undefined;
  if (hasChatShape) {
    return {
      promptTokens: count(u.prompt_tokens),
      completionTokens: count(u.completion_tokens),
      cachedTokens: count(u.prompt_tokens_details?.cached_tokens),
      reasoningTokens: count(u.completion_tokens_details?.reasoning_tokens),
    };
  }
  return {
    promptTokens: count(u.input_tokens),
    completionTokens: count(u.output_tokens),
    cachedTokens: count(u.input_tokens_details?.cached_tokens),
    reasoningTokens: count(u.output_tokens_details?.reasoning_tokens),
  };
}

/** Usage and model from a parsed answer or stream event: top level, or inside `response` (Responses API events). */
export function usageAndModelOf(obj: unknown): { usage?: Usage; model?: string } {
  if (!obj || typeof obj !== 'object') return {};
  const o = obj as LooseJson;
  const usage = normaliseUsage(o.usage) ?? normaliseUsage(o.response?.usage);
  const model = typeof o.model === 'string' ? o.model : typeof o.response?.model === 'string' ? o.response.model : undefined;
  return { usage, model };
}
