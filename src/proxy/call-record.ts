import type { Logger } from 'pino';
import { modelNameProblem } from '../accounting/model-names.js';
import type { CallOutcome, QueryRecord, RateLimitSnapshot, Store } from '../store/types.js';
import type { Hold } from '../store/access-types.js';
import type { CallMetrics } from './call-metrics.js';
import type { CallUsage, UsagePolicy } from './call-usage.js';
import type { InflightCall } from './inflight-calls.js';
import type { MultipartModelTap } from './multipart-model-tap.js';
import type { RequestPlan } from './request-plan.js';
import type { ToolCalls } from './usage.js';
import { SPEECH_ENDPOINT } from './usage-policy.js';

/** What the proxy knows about a call from its arrival until its row is committed. */
export interface CallContext {
  user: string;
  /** The proxy key the call came with; null for an x-user call. */
  keyId: string | null;
  /** What the call reserved of budgets and rate limits; settled (and cleared) once, when its row is committed or it ends unrecorded. */
  hold?: Hold;
  endpoint: string;
  arrivedAt: number;
  startedNs: bigint;
  plan?: RequestPlan;
  multipart?: MultipartModelTap;
  usagePolicy: UsagePolicy;
  call: InflightCall;
  /** From sending the call upstream to the end of its answer (or of the attempt), for the latency metrics. */
  upstreamStartedNs?: bigint;
  upstreamEndedNs?: bigint;
}

/** How a call ended, once its answer (or the lack of one) is known. */
interface CallFacts {
  status: number;
  outcome: CallOutcome;
  model: string;
  streamed: boolean;
  usage: CallUsage;
  /** The tier the answer named, and the built-in tool calls its output items list. */
  serviceTier?: string;
  tools?: ToolCalls;
}

/** Characters of a speech request's `input` (code points, as OpenAI counts them): what tts-1 is billed by. */
function speechCharacters(json: Record<string, unknown> | undefined): number {
  const input = json?.input;
  if (typeof input !== 'string') return 0;
  let n = 0;
  for (const _ of input) n++;
  return n;
}

/** The model the caller asked for: from the JSON body, or from the `model` field of a multipart upload. */
export const requestedModel = (ctx: CallContext): string | null => ctx.plan?.model ?? multipartModel(ctx) ?? null;

/** A multipart upload's `model` field is read as it streams upstream, too late to refuse: one that is no model name is not recorded. */
const multipartModel = (ctx: CallContext): string | undefined => {
  const model = ctx.multipart?.model;
  return model !== undefined && modelNameProblem(model) === undefined ? model : undefined;
};

/**
 * Replaces a call's reservation (if it made one) with what it really cost and
 * used; `usd` undefined keeps the reserved amount. Never throws: a hold that
 * cannot be settled lapses by itself.
 */
export type SettleCall = (ctx: CallContext, actual: { usd?: number; tokens: number }) => Promise<void>;

/** Resolves once the call's row is committed (database or journal); the answer's end waits for it. */
export type RecordCall = (ctx: CallContext, facts: CallFacts, rateLimits?: RateLimitSnapshot) => Promise<void>;

/** The time the upstream took on this call, in ms (0 if it was never asked). */
export const upstreamMs = (ctx: CallContext): number =>
  ctx.upstreamStartedNs === undefined ? 0 : Number((ctx.upstreamEndedNs ?? process.hrtime.bigint()) - ctx.upstreamStartedNs) / 1e6;

export function createCallRecorder(store: Store, log: Logger, metrics: CallMetrics, settle: SettleCall): RecordCall {
  return async function recordCall(ctx, facts, rateLimits) {
    const durationMs = Number(process.hrtime.bigint() - ctx.startedNs) / 1e6;
    const record: QueryRecord = {
      user: ctx.user,
      timestamp: ctx.arrivedAt,
      durationMs: Math.round(durationMs),
      endpoint: ctx.endpoint,
      requestedModel: requestedModel(ctx),
      model: facts.model,
      status: facts.status,
      outcome: facts.outcome,
      promptTokens: facts.usage.promptTokens,
      completionTokens: facts.usage.completionTokens,
      cachedTokens: facts.usage.cachedTokens,
      reasoningTokens: facts.usage.reasoningTokens,
      cacheWriteTokens: facts.usage.cacheWriteTokens,
      audioPromptTokens: facts.usage.audioPromptTokens,
      audioCompletionTokens: facts.usage.audioCompletionTokens,
      imagePromptTokens: facts.usage.imagePromptTokens,
      imageCompletionTokens: facts.usage.imageCompletionTokens,
      acceptedPredictionTokens: facts.usage.acceptedPredictionTokens,
      rejectedPredictionTokens: facts.usage.rejectedPredictionTokens,
      audioSeconds: facts.usage.audioSeconds,
      inputCharacters: ctx.endpoint === SPEECH_ENDPOINT ? speechCharacters(ctx.plan?.json) : 0,
      webSearchCalls: facts.tools?.webSearchCalls ?? 0,
      fileSearchCalls: facts.tools?.fileSearchCalls ?? 0,
      codeInterpreterContainers: facts.tools?.codeInterpreterContainers ?? 0,
      serviceTier: facts.serviceTier ?? null,
      streamed: facts.streamed,
      estimated: facts.usage.estimated,
      keyId: ctx.keyId,
    };
    const writeStartedNs = process.hrtime.bigint();
    const { cost, journaled } = await store.recordQuery(record, rateLimits);
    const doneNs = process.hrtime.bigint();
    metrics.storeWrite(Number(doneNs - writeStartedNs) / 1e6);
    metrics.callEnded({
      endpoint: record.endpoint,
      model: record.model,
      status: record.status,
      outcome: record.outcome,
      user: record.user,
      promptTokens: record.promptTokens,
      completionTokens: record.completionTokens,
      cachedTokens: record.cachedTokens,
      reasoningTokens: record.reasoningTokens,
      cost,
      totalMs: Number(doneNs - ctx.startedNs) / 1e6,
      upstreamMs: upstreamMs(ctx),
    });
    // A call kept in the journal is priced only when replayed: until then it is charged what it reserved.
    await settle(ctx, { usd: journaled ? undefined : cost, tokens: record.promptTokens + record.completionTokens });
    log.info(
      {
        user: record.user,
        endpoint: record.endpoint,
        model: record.model,
        status: record.status,
        outcome: record.outcome,
        promptTokens: record.promptTokens,
        completionTokens: record.completionTokens,
        estimated: record.estimated,
        cost,
        durationMs: Math.round(durationMs * 10) / 10,
        journaled,
      },
      'call',
    );
  };
}
