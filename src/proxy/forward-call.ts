import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errorText } from '../common/error-text.js';
import { ApiError } from '../http/errors.js';
import type { CommitGate, Store } from '../store/types.js';
import { relayAnswer, type RelayDeps } from './answer-relay.js';
import { batchRememberer } from './remember-batch.js';
import { CALL_FAILURES, failureError, failureOfRequest } from './call-failures.js';
import { NO_CALL_METRICS, type CallMetrics } from './call-metrics.js';
import { createCallRecorder, requestedModel, upstreamMs, type CallContext, type SettleCall } from './call-record.js';
import { usageForCall } from './call-usage.js';
import type { CallerAccess } from './caller-access.js';
import { upstreamRequestHeaders, type BillingHeaders } from './header-policy.js';
import type { InflightCalls } from './inflight-calls.js';
import { MultipartModelTap, multipartBoundary } from './multipart-model-tap.js';
import { planJsonRequest, requiresJsonBody, type RequestPlan } from './request-plan.js';
import type { CaptureBudget } from './capture-budget.js';
import type { SpendGate } from './spend-gate.js';
import { normaliseTarget } from './target-path.js';
import type { TokenCounter } from './token-counter.js';
import { upstreamPath, type Upstream } from './upstream.js';
import { requestUpstream, type SendProgress, type UpstreamAnswer, type UpstreamRequest } from './upstream-request.js';
import { usagePolicyFor } from './usage-policy.js';

export interface ForwardDeps {
  upstream: Upstream;
  store: Store;
  log: Logger;
  inflight: InflightCalls;
  forwardToken?: string;
  /** Refuses calls that could not be recorded (database and journal both failing), before they are forwarded. */
  commitGate?: CommitGate;
  /** How much of an answer is kept for counting it when the upstream gives no usage. */
  captureLimitBytes?: number;
  /** Set when Batch API jobs are followed (forward.token is set): when a job created through the proxy is first polled. */
  batchFirstPollAfterMs?: number;
  /** Who a call is for: its key's user, or x-user (auth.callers). */
  callers: CallerAccess;
  /** Budgets and rate limits, checked before forwarding and settled when the call ends. */
  spendGate: SpendGate;
  /** Counts each call for GET /metrics; a no-op when metrics are off. */
  metrics?: CallMetrics;
  /** What all calls in flight together may keep of their answers for counting. */
  captureBudget: CaptureBudget;
  /** Counts tokens (off the event loop) when the upstream gives no usage. */
  counter: TokenCounter;
  /** The organisation and project calls bill. */
  billing?: BillingHeaders;
  /** False for upstreams that stream usage unasked: streams are then forwarded without include_usage. */
  askForUsage?: boolean;
}

// TRACE would echo the request, key included, back from the upstream; CONNECT never reaches a route (server/app.ts).
const NEVER_FORWARDED = new Set(['TRACE', 'CONNECT']);

/**
 * The hot path: every /v1/* call. Checks the caller and the body, forwards the
 * caller's bytes, then hands the answer to the relay (answer-relay.ts), which
 * commits the query before the answer's last bytes are released.
 */
export function createForwardHandler(deps: ForwardDeps) {
  const settle: SettleCall = async (ctx, actual) => {
    const hold = ctx.hold;
    if (!hold) return;
    ctx.hold = undefined;
    await deps.spendGate
      .settle(hold, { usd: actual.usd ?? hold.usd, tokens: actual.tokens })
      .catch((err) => deps.log.warn({ err: errorText(err), hold: hold.id }, 'could not settle a reservation; it lapses by itself'));
  };
  const metrics = deps.metrics ?? NO_CALL_METRICS;
  const recordCall = createCallRecorder(deps.store, deps.log, metrics, settle);
  const relay: RelayDeps = {
    recordCall,
    log: deps.log,
    captureLimit: deps.captureLimitBytes ?? 512 * 1024,
    captureBudget: deps.captureBudget,
    rememberBatch: deps.batchFirstPollAfterMs === undefined ? undefined : batchRememberer(deps.store, deps.batchFirstPollAfterMs),
    counter: deps.counter,
  };
  const askForUsage = deps.askForUsage ?? true;

  /** `received` is what the /v1 entry read (server/v1-entry.ts): a JSON body as one Buffer, any other as the request stream. */
  return async function forwardCall(request: IncomingMessage, out: ServerResponse, received: Buffer | Readable | undefined): Promise<void> {
    const arrivedAt = Date.now();
    const startedNs = process.hrtime.bigint();
    // The one reading of the target: what the call is, what is recorded and what goes upstream.
    const target = normaliseTarget(request.url ?? '');
    const method = request.method ?? '';
    if (NEVER_FORWARDED.has(method)) {
      throw new ApiError(405, 'method_not_allowed', `${method} is not forwarded: it would reach the upstream with the organisation's key`);
    }
    const caller = await deps.callers.identify(request.headers);
    const endpoint = target.path;
    const { plan, body, multipart } = requestBody(request, received, endpoint, askForUsage);
    deps.callers.checkModel(caller, plan?.model ?? null, plan === undefined && body !== undefined);
    if (deps.commitGate && !deps.commitGate.canCommit()) throw failureError(CALL_FAILURES.cannotRecord);
    const hold = await deps.spendGate.admit({ caller, endpoint, model: plan?.model ?? null, json: plan?.json, bodyBytes: plan?.body.length ?? 0, arrivedAt });

    const call = deps.inflight.start();
    const ctx: CallContext = {
      user: caller.user,
      keyId: caller.key?.id ?? null,
      hold,
      endpoint,
      arrivedAt,
      startedNs,
      plan,
      multipart,
      usagePolicy: usagePolicyFor(method, endpoint),
      call,
    };
    out.on('close', () => {
      if (!out.writableFinished) call.abort('client_aborted');
    });
    const progress: SendProgress = { sent: false };
    try {
      let answer: UpstreamAnswer;
      ctx.upstreamStartedNs = process.hrtime.bigint();
      try {
        const options: UpstreamRequest = {
          method: request.method as Dispatcher.HttpMethod,
          path: upstreamPath(deps.upstream, target.path, target.query),
          headers: upstreamRequestHeaders(request.headers, { forwardToken: deps.forwardToken, bodyReplaced: plan !== undefined, billing: deps.billing }),
          body,
          signal: call.signal,
        };
        answer = await requestUpstream(deps.upstream.pool, options, progress);
      } catch (err) {
        ctx.upstreamEndedNs = process.hrtime.bigint();
        await failBeforeAnswer(ctx, err, progress, out);
        return;
      }
      await relayAnswer(relay, ctx, answer, out).catch((err) => {
        // Never leave a caller waiting on an answer the relay could not finish.
        deps.log.error({ err: errorText(err), user: caller.user, endpoint }, 'relaying an answer failed; breaking it off');
        out.destroy();
      });
    } finally {
      // Ended without a committed row (refused, unreachable, broken off unrecorded): its reservation is simply released.
      await settle(ctx, { usd: 0, tokens: 0 });
      call.done();
    }
  };

  /** No answer came: record the call if the upstream may have seen it, then tell the caller why. */
  async function failBeforeAnswer(ctx: CallContext, err: unknown, progress: SendProgress, out: ServerResponse): Promise<void> {
    const failure = failureOfRequest(err, ctx.call.reason, progress.sent);
    if (!failure.recorded) countUnrecorded(ctx, failure.status, failure.outcome ?? 'unreachable');
    if (failure.recorded && failure.outcome) {
      const model = requestedModel(ctx) ?? '';
      const usage = await usageForCall({ counter: deps.counter, policy: ctx.usagePolicy, model, requestJson: ctx.plan?.json });
      await recordCall(ctx, { status: failure.status, outcome: failure.outcome, model, streamed: ctx.plan?.stream ?? false, usage }).catch((commitErr) =>
        deps.log.error({ err: errorText(commitErr) }, 'could not record a failed call'),
      );
    }
    if (ctx.call.reason === 'client_aborted') {
      out.destroy();
      return;
    }
    throw failureError(failure);
  }

  /** A call the upstream never saw is not recorded, but it still counts in the metrics. */
  function countUnrecorded(ctx: CallContext, status: number, outcome: string): void {
    metrics.callEnded({
      endpoint: ctx.endpoint,
      model: requestedModel(ctx) ?? '',
      status,
      outcome,
      user: ctx.user,
      promptTokens: 0,
      completionTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 0,
      cost: 0,
      totalMs: Number(process.hrtime.bigint() - ctx.startedNs) / 1e6,
      upstreamMs: upstreamMs(ctx),
    });
  }
}

function requestBody(
  request: IncomingMessage,
  raw: Buffer | Readable | undefined,
  endpoint: string,
  askForUsage: boolean,
): { plan?: RequestPlan; body?: Buffer | Readable; multipart?: MultipartModelTap } {
  if (Buffer.isBuffer(raw)) {
    const plan = planJsonRequest(raw, endpoint, askForUsage);
    return { plan, body: plan.body };
  }
  if (raw !== undefined) {
    if (requiresJsonBody(endpoint)) {
      throw new ApiError(415, 'unsupported_content_type', `${endpoint} takes a JSON body: send content-type: application/json`);
    }
    const boundary = multipartBoundary(request.headers['content-type']);
    if (boundary === undefined) return { body: raw };
    const multipart = new MultipartModelTap(boundary);
    // pipeline passes a caller's abort on to the upstream request.
    return { body: pipeline(raw, multipart, () => undefined), multipart };
  }
  if (requiresJsonBody(endpoint) && request.method === 'POST') {
    throw new ApiError(400, 'missing_body', `${endpoint} takes a JSON body with a 'model'`);
  }
  return {};
}
