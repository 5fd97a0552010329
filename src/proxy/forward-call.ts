import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { pipeline, type Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { usageForCall, noUsage, type CallUsage, type UsagePolicy } from './call-usage.js';
import { ApiError, openAiErrorBody } from '../http/errors.js';
import type { CommitGate } from '../store/types.js';
import type { QueryRecord, Store } from '../store/types.js';
import { requireCallerUser } from './caller-user.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './header-policy.js';
import type { InflightCall, InflightCalls } from './inflight-calls.js';
import { JsonUsageTap } from './json-usage-tap.js';
import { MultipartModelTap, multipartBoundary } from './multipart-model-tap.js';
import { readRateLimitHeaders } from './rate-limit-headers.js';
import { planJsonRequest, requiresJsonBody, type RequestPlan } from './request-plan.js';
import { SseUsageTap, parseEventData } from './sse-usage-tap.js';
import { upstreamPath, type Upstream } from './upstream.js';
import { usagePolicyFor } from './usage-policy.js';
import { writeWithBackpressure } from './write-with-backpressure.js';
import { errorText } from '../common/error-text.js';

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
}

interface CallContext {
  user: string;
  endpoint: string;
  arrivedAt: number;
  startedNs: bigint;
  plan?: RequestPlan;
  multipart?: MultipartModelTap;
  usagePolicy: UsagePolicy;
  call: InflightCall;
}

/**
 * The hot path: every /v1/* call. Forwards the caller's bytes, relays the
 * answer as it arrives, reads usage on the way, and commits the query before
 * the answer's last bytes are released to the caller.
 */
export function createForwardHandler(deps: ForwardDeps) {
  const captureLimit = deps.captureLimitBytes ?? 4 * 1024 * 1024;

  return async function forwardCall(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const arrivedAt = Date.now();
    const startedNs = process.hrtime.bigint();
    const user = requireCallerUser(request.headers['x-user']);
    const endpoint = pathOf(request.url);
    const { plan, body, multipart } = requestBody(request, endpoint);
    if (deps.commitGate && !deps.commitGate.canCommit()) {
      throw new ApiError(503, 'cannot_record', 'the proxy cannot record calls right now (neither its database nor its journal can be written); nothing was forwarded');
    }

    const call = deps.inflight.start();
    const ctx: CallContext = { user, endpoint, arrivedAt, startedNs, plan, multipart, usagePolicy: usagePolicyFor(request.method, endpoint), call };
    const out = reply.raw;
    out.on('close', () => {
      if (!out.writableFinished) call.abort('client_aborted');
    });
    try {
      let answer: Dispatcher.ResponseData;
      try {
        answer = await deps.upstream.pool.request({
          method: request.method as Dispatcher.HttpMethod,
          path: upstreamPath(deps.upstream, request.url),
          headers: upstreamRequestHeaders(request.headers, { forwardToken: deps.forwardToken, bodyReplaced: plan !== undefined }),
          body,
          signal: call.signal,
        });
      } catch (err) {
        await failBeforeAnswer(ctx, err, reply);
        return;
      }
      reply.hijack();
      await relayAnswer(ctx, answer, out);
    } finally {
      call.done();
    }
  };

  async function failBeforeAnswer(ctx: CallContext, err: unknown, reply: FastifyReply): Promise<void> {
    const failure = classifyRequestError(err, ctx.call);
    if (failure.record) {
      const usage = await usageForCall({ policy: ctx.usagePolicy, model: requestedModel(ctx) ?? '', requestJson: ctx.plan?.json });
      await commit(ctx, { status: failure.status, outcome: failure.outcome, model: requestedModel(ctx) ?? '', streamed: ctx.plan?.stream ?? false, usage }).catch(
        (commitErr) => deps.log.error({ err: errorText(commitErr) }, 'could not record a failed call'),
      );
    }
    if (ctx.call.reason === 'client_aborted') {
      reply.hijack();
      reply.raw.destroy();
      return;
    }
    throw new ApiError(failure.status, failure.code, failure.message);
  }

  async function relayAnswer(ctx: CallContext, answer: Dispatcher.ResponseData, out: ServerResponse): Promise<void> {
    const status = answer.statusCode;
    const streamed = String(answer.headers['content-type'] ?? '').includes('text/event-stream');
    const headers = clientResponseHeaders(answer.headers, { bodyMayChange: streamed });
    // A stream's head goes out at once; a JSON answer's with its first bytes, so a body that fails
    // before any of it was relayed can still be answered with an honest 502/504.
    let headSent = streamed;
    if (streamed) {
      out.writeHead(status, headers);
      out.flushHeaders();
    }
    const release = (part: Buffer) => {
      if (!headSent) {
        out.writeHead(status, headers);
        headSent = true;
      }
      return writeWithBackpressure(out, part);
    };

    const sse = streamed ? new SseUsageTap(ctx.plan?.hideUsageOnlyChunk ?? false, captureLimit) : undefined;
    const json = streamed ? undefined : new JsonUsageTap(captureLimit);
    let lastChunk: Buffer | undefined;
    let bodyError: unknown;
    try {
      for await (const chunk of answer.body as AsyncIterable<Buffer>) {
        if (sse) {
          for (const part of sse.push(chunk)) await writeWithBackpressure(out, part);
        } else {
          // One chunk behind: the last one is released only after the commit.
          if (lastChunk) await release(lastChunk);
          lastChunk = chunk;
          json!.push(chunk);
        }
      }
    } catch (err) {
      bodyError = err;
    }

    const outcome = bodyError ? outcomeOfBrokenBody(bodyError, ctx.call) : status >= 400 ? 'upstream_error' : 'ok';
    const failedUnrelayed = bodyError && !headSent ? failureBeforeRelay(outcome) : undefined;
    let usage: CallUsage;
    let model: string;
    if (sse) {
      sse.finish();
      model = sse.model ?? firstEventModel(sse) ?? requestedModel(ctx) ?? '';
      usage = status >= 400 && !sse.usage ? noUsage()
        : await usageForCall({ policy: ctx.usagePolicy, reported: sse.usage, model, requestJson: ctx.plan?.json, answer: { capture: sse.capture, streamed: true } });
    } else {
      const read = json!.result();
      model = read.model ?? requestedModel(ctx) ?? '';
      usage = status >= 400 && !read.usage ? noUsage()
        : await usageForCall({ policy: ctx.usagePolicy, reported: read.usage, model, requestJson: ctx.plan?.json, answer: { capture: json!.capture, streamed: false, parsed: read.parsed } });
    }
    const rateLimits = status < 300 ? readRateLimitHeaders(answer.headers, Date.now()) : undefined;

    try {
      await commit(ctx, { status: failedUnrelayed?.status ?? status, outcome, model, streamed, usage }, rateLimits);
    } catch (err) {
      // Not committed: the caller must not see a complete answer.
      deps.log.error({ err: errorText(err), user: ctx.user, endpoint: ctx.endpoint }, 'could not record the call; breaking off its answer');
      out.destroy();
      return;
    }
    if (failedUnrelayed && !out.destroyed) {
      out.writeHead(failedUnrelayed.status, { 'content-type': 'application/json; charset=utf-8' });
      out.end(openAiErrorBody(failedUnrelayed));
      return;
    }
    if (bodyError || out.destroyed) {
      // Broken off upstream (or by shutdown): the caller sees an error, never a clean end.
      out.destroy();
      return;
    }
    for (const part of sse ? sse.held : lastChunk ? [lastChunk] : []) await release(part);
    if (!headSent) out.writeHead(status, headers);
    out.end();
  }

  async function commit(
    ctx: CallContext,
    facts: { status: number; outcome: string; model: string; streamed: boolean; usage: CallUsage },
    rateLimits?: ReturnType<typeof readRateLimitHeaders>,
  ): Promise<void> {
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
      streamed: facts.streamed,
      estimated: facts.usage.estimated,
    };
    const { cost, journaled } = await deps.store.recordQuery(record, rateLimits);
    deps.log.info(
      {
        user: record.user, endpoint: record.endpoint, model: record.model, status: record.status, outcome: record.outcome,
        promptTokens: record.promptTokens, completionTokens: record.completionTokens, estimated: record.estimated,
        cost, durationMs: Math.round(durationMs * 10) / 10, journaled,
      },
      'call',
    );
  }
}

/** The model the caller asked for: from the JSON body, or from the `model` field of a multipart upload. */
const requestedModel = (ctx: CallContext): string | null => ctx.plan?.model ?? ctx.multipart?.model ?? null;

function requestBody(
  request: FastifyRequest,
  endpoint: string,
): { plan?: RequestPlan; body?: Buffer | Readable; multipart?: MultipartModelTap } {
  const raw = request.body;
  if (Buffer.isBuffer(raw)) {
    const plan = planJsonRequest(raw, endpoint);
    return { plan, body: plan.body };
  }
  if (raw !== undefined && raw !== null) {
    if (requiresJsonBody(endpoint)) {
      throw new ApiError(415, 'unsupported_content_type', `${endpoint} takes a JSON body: send content-type: application/json`);
    }
    const boundary = multipartBoundary(request.headers['content-type']);
    if (boundary === undefined) return { body: raw as Readable };
    const multipart = new MultipartModelTap(boundary);
    // pipeline passes a caller's abort on to the upstream request.
    return { body: pipeline(raw as Readable, multipart, () => undefined), multipart };
  }
  if (requiresJsonBody(endpoint) && request.method === 'POST') {
    throw new ApiError(400, 'missing_body', `${endpoint} takes a JSON body with a 'model'`);
  }
  return {};
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

interface RequestFailure {
  status: number;
  code: string;
  message: string;
  outcome: string;
  /** Recorded only when the upstream may have seen the call. */
  record: boolean;
}

function classifyRequestError(err: unknown, call: InflightCall): RequestFailure {
  if (call.reason === 'client_aborted') {
    return { status: 499, code: 'client_closed', message: 'the caller went away', outcome: 'client_aborted', record: true };
  }
  if (call.reason === 'shutdown') {
    return { status: 503, code: 'shutting_down', message: 'the proxy is shutting down', outcome: 'shutdown', record: true };
  }
  const code = (err as { code?: string }).code ?? (err as Error).name ?? 'error';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return { status: 504, code: 'upstream_timeout', message: 'the upstream did not answer in time', outcome: 'timeout', record: true };
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { status: 504, code: 'upstream_timeout', message: 'timed out connecting to the upstream', outcome: 'timeout', record: false };
  }
  return { status: 502, code: 'upstream_unreachable', message: `the upstream could not be reached (${code})`, outcome: 'unreachable', record: false };
}

/** The error a caller gets when the upstream's answer broke before any byte of it was relayed. */
function failureBeforeRelay(outcome: string): ApiError {
  if (outcome === 'timeout') return new ApiError(504, 'upstream_timeout', 'the upstream stopped sending its answer before any of it arrived');
  if (outcome === 'shutdown') return new ApiError(503, 'shutting_down', 'the proxy is shutting down');
  if (outcome === 'client_aborted') return new ApiError(499, 'client_closed', 'the caller went away');
  return new ApiError(502, 'upstream_broken', 'the upstream broke off its answer before any of it arrived');
}

function outcomeOfBrokenBody(err: unknown, call: InflightCall): string {
  if (call.reason) return call.reason;
  return (err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'upstream_aborted';
}

/** The answered model of a stream that never sent usage: the first event names it. */
function firstEventModel(sse: SseUsageTap): string | undefined {
  const head = sse.capture.chunks.length ? sse.capture.chunks[0].toString('utf8', 0, 8192) : '';
  const first = parseEventData(head.split(/\r?\n\r?\n/)[0] ?? '') as { model?: unknown; response?: { model?: unknown } } | undefined;
  const model = first?.model ?? first?.response?.model;
  return typeof model === 'string' ? model : undefined;
}
