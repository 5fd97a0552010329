import type { LooseJson } from '../common/loose-json.js';
import type { TokenCounts } from '../store/types.js';

/** An upstream's usage: the four counts and the parts of them billed at their own rates (never more than the whole, see clamped). */
export interface Usage extends TokenCounts {
  cacheWriteTokens: number;
  audioPromptTokens: number;
  audioCompletionTokens: number;
  imagePromptTokens: number;
  imageCompletionTokens: number;
  acceptedPredictionTokens: number;
  rejectedPredictionTokens: number;
  /** Audio a transcription billed by duration reports (`usage.type: "duration"`). */
  audioSeconds: number;
}

/** Built-in tool calls OpenAI bills per call, counted from a Responses answer's output items. */
export interface ToolCalls {
  webSearchCalls: number;
  fileSearchCalls: number;
  codeInterpreterContainers: number;
}

// No call comes near a billion tokens; a larger count is a broken upstream, and capping it keeps every cost and every
// sum of tokens or costs (SQLite's SUM stops at 2^63) a finite number.
const MAX_TOKENS = 1_000_000_000;

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(Math.round(v), MAX_TOKENS) : 0);
const seconds = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(v, MAX_TOKENS) : 0);

/**
 * Reads an upstream `usage` object in any of OpenAI's shapes: chat and
 * completions (prompt_tokens, completion_tokens, *_tokens_details), the
 * Responses API, images and token-billed transcriptions (input_tokens,
 * output_tokens, input_tokens_details or input_token_details,
 * output_tokens_details), duration-billed transcriptions (`type: "duration"`,
 * seconds) and embeddings (prompt_tokens only). Undefined when it is not a
 * usage object.
 */
export function normaliseUsage(raw: unknown): Usage | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const u = raw as LooseJson;
  if (u.type === 'duration' && 'seconds' in u) return { ...clamped(0, 0, {}), audioSeconds: seconds(u.seconds) };
  if ('prompt_tokens' in u || 'completion_tokens' in u) {
    const p = u.prompt_tokens_details ?? {};
    const c = u.completion_tokens_details ?? {};
    return clamped(count(u.prompt_tokens), count(u.completion_tokens), {
      cached: p.cached_tokens,
      cacheWrite: p.cache_write_tokens,
      audioPrompt: p.audio_tokens,
      reasoning: c.reasoning_tokens,
      audioCompletion: c.audio_tokens,
      accepted: c.accepted_prediction_tokens,
      rejected: c.rejected_prediction_tokens,
    });
  }
  if ('input_tokens' in u || 'output_tokens' in u) {
    // Transcriptions and Realtime name it input_token_details; Responses and images input_tokens_details.
    const i = u.input_tokens_details ?? u.input_token_details ?? {};
    const o = u.output_tokens_details ?? u.output_token_details ?? {};
    // Realtime counts cached audio and image tokens in audio_tokens and image_tokens too, and splits them out here.
    const cachedParts = i.cached_tokens_details ?? {};
    return clamped(count(u.input_tokens), count(u.output_tokens), {
      cached: i.cached_tokens,
      cacheWrite: i.cache_write_tokens,
      audioPrompt: count(i.audio_tokens) - count(cachedParts.audio_tokens),
      imagePrompt: count(i.image_tokens) - count(cachedParts.image_tokens),
      reasoning: o.reasoning_tokens,
      audioCompletion: o.audio_tokens,
      imageCompletion: o.image_tokens,
    });
  }
  return undefined;
}

type Details = Partial<
  Record<'cached' | 'cacheWrite' | 'audioPrompt' | 'imagePrompt' | 'reasoning' | 'audioCompletion' | 'imageCompletion' | 'accepted' | 'rejected', unknown>
>;

/**
 * Each detail is a part of its total, so it is held to what the parts before
 * it left over: the text tokens priced at the text rate are never negative,
 * whatever an upstream reports.
 */
function clamped(promptTokens: number, completionTokens: number, d: Details): Usage {
  let prompt = promptTokens;
  const part = (v: unknown) => {
    const n = Math.min(count(v), prompt);
    prompt -= n;
    return n;
  };
  const cachedTokens = part(d.cached);
  const cacheWriteTokens = part(d.cacheWrite);
  const audioPromptTokens = part(d.audioPrompt);
  const imagePromptTokens = part(d.imagePrompt);
  const audioCompletionTokens = Math.min(count(d.audioCompletion), completionTokens);
  const imageCompletionTokens = Math.min(count(d.imageCompletion), completionTokens - audioCompletionTokens);
  return {
    promptTokens,
    completionTokens,
    cachedTokens,
    cacheWriteTokens,
    audioPromptTokens,
    imagePromptTokens,
    reasoningTokens: Math.min(count(d.reasoning), completionTokens),
    audioCompletionTokens,
    imageCompletionTokens,
    acceptedPredictionTokens: count(d.accepted),
    rejectedPredictionTokens: Math.min(count(d.rejected), completionTokens),
    audioSeconds: 0,
  };
}

/** What a parsed answer or stream event says about billing: top level, or inside `response` (Responses API events). */
export interface AnswerFacts {
  usage?: Usage;
  model?: string;
  serviceTier?: string;
  tools?: ToolCalls;
}

export function usageAndModelOf(obj: unknown): AnswerFacts {
  if (!obj || typeof obj !== 'object') return {};
  const o = obj as LooseJson;
  const inner: LooseJson = o.response && typeof o.response === 'object' ? o.response : undefined;
  const usage = normaliseUsage(o.usage) ?? normaliseUsage(inner?.usage);
  const model = typeof o.model === 'string' ? o.model : typeof inner?.model === 'string' ? inner.model : undefined;
  const tier = o.service_tier ?? inner?.service_tier;
  const output = Array.isArray(o.output) ? o.output : Array.isArray(inner?.output) ? inner.output : undefined;
  return { usage, model, serviceTier: typeof tier === 'string' ? tier : undefined, tools: output ? toolCallsOf(output) : undefined };
}

/** Web and file searches count per call; code interpreter per container, however many calls ran in it. */
function toolCallsOf(output: unknown[]): ToolCalls {
  let webSearchCalls = 0;
  let fileSearchCalls = 0;
  const containers = new Set<string>();
  let unnamedContainers = 0;
  for (const item of output) {
    const type = (item as { type?: unknown } | null)?.type;
    if (type === 'web_search_call') webSearchCalls++;
    else if (type === 'file_search_call') fileSearchCalls++;
    else if (type === 'code_interpreter_call') {
      const id = (item as { container_id?: unknown }).container_id;
      if (typeof id === 'string') containers.add(id);
      else unnamedContainers++;
    }
  }
  return { webSearchCalls, fileSearchCalls, codeInterpreterContainers: containers.size + unnamedContainers };
}
