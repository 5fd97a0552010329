import type { Usage } from './usage.js';
import type { AnswerCapture } from './answer-capture.js';
import { jsonAnswerText, streamedAnswerText } from './answer-text.js';
import type { TokenCounter } from './token-counter.js';
import { countTextTokens, estimatePromptTokens } from './token-estimate.js';

export interface CallUsage extends Usage {
  estimated: boolean;
}

/**
 * estimate: the upstream's usage, else a count; request-text: the upstream's usage, else a count of the
 * request only (speech, whose answer is audio); reported: the upstream's usage, else none; none: never any.
 */
export type UsagePolicy = 'estimate' | 'request-text' | 'reported' | 'none';

const ZERO: Usage = {
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
  reasoningTokens: 0,
  cacheWriteTokens: 0,
  audioPromptTokens: 0,
  audioCompletionTokens: 0,
  imagePromptTokens: 0,
  imageCompletionTokens: 0,
  acceptedPredictionTokens: 0,
  rejectedPredictionTokens: 0,
  audioSeconds: 0,
};

/**
 * The usage to record: the upstream's own whenever it gave one. Only when it
 * gave none, and the policy allows it, is the call counted with the model's
 * tokenizer, and marked as estimated.
 */
export async function usageForCall(input: {
  counter: TokenCounter;
  policy: UsagePolicy;
  reported?: Usage;
  model: string;
  requestJson?: unknown;
  answer?: { capture: AnswerCapture; streamed: boolean; parsed?: unknown };
}): Promise<CallUsage> {
  if (input.policy === 'none') return noUsage();
  const r = input.reported;
  // Hot path: a literal, not `{ ...r, estimated }` (object spread cost ~1 µs here on Node 20).
  if (r)
    return {
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      cachedTokens: r.cachedTokens,
      reasoningTokens: r.reasoningTokens,
      cacheWriteTokens: r.cacheWriteTokens,
      audioPromptTokens: r.audioPromptTokens,
      audioCompletionTokens: r.audioCompletionTokens,
      imagePromptTokens: r.imagePromptTokens,
      imageCompletionTokens: r.imageCompletionTokens,
      acceptedPredictionTokens: r.acceptedPredictionTokens,
      rejectedPredictionTokens: r.rejectedPredictionTokens,
      audioSeconds: r.audioSeconds,
      estimated: false,
    };
  if (input.policy === 'reported') return noUsage();
  const promptTokens = input.requestJson ? await estimatePromptTokens(input.counter, input.model, input.requestJson) : 0;
  let completionTokens = 0;
  if (input.policy === 'estimate' && input.answer && input.answer.capture.totalBytes > 0) {
    const { capture, streamed, parsed } = input.answer;
    const texts = streamed ? streamedAnswerText(capture.text()) : jsonAnswerText(parsed ?? safeParse(capture.text()));
    completionTokens = capture.extrapolate(await countTextTokens(input.counter, input.model, texts));
  }
  return { ...ZERO, promptTokens, completionTokens, estimated: true };
}

export const noUsage = (): CallUsage => ({ ...ZERO, estimated: false });

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
