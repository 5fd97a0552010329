import type { TokenCounter } from './token-counter.js';
import { countPromptTokens } from './token-estimate.js';

/**
 * Bodies larger than this are bounded by their size instead of tokenized: a
 * token stands for at least one byte of text, so a body's byte length is an
 * upper bound of its prompt tokens, found without work that grows with it.
 */
const TOKENIZE_UP_TO_BYTES = 64 * 1024;

/** At least as many prompt tokens as the upstream will count for this request, for reserving budget. */
export async function promptTokenBound(counter: TokenCounter, model: string, json: Record<string, unknown> | undefined, bodyBytes: number): Promise<number> {
  if (!json) return 0;
  if (bodyBytes > TOKENIZE_UP_TO_BYTES) return bodyBytes;
  const counted = await countPromptTokens(counter, model, json);
  // A busy counter answers bytes / 4, not a bound: the body's size is one.
  if (!counted.exact) return bodyBytes;
  // The tokenizer's count of the text plus OpenAI's framing; a little for the framing of tools and names it does not see.
  return Math.ceil(counted.tokens * 1.05) + 16;
}

const OUTPUT_LIMIT_FIELDS = ['max_completion_tokens', 'max_output_tokens', 'max_tokens'] as const;

/** The most answer tokens the caller allowed (n answers where it asked for several), else the configured default. */
export function outputTokenBound(json: Record<string, unknown> | undefined, fallback: number): number {
  let perAnswer = fallback;
  for (const field of OUTPUT_LIMIT_FIELDS) {
    const value = json?.[field];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
      perAnswer = Math.ceil(value);
      break;
    }
  }
  const n = json?.n;
  const answers = typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1;
  return perAnswer * answers;
}
