import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { errorText } from '../common/error-text.js';
import { openAiErrorBody } from '../http/errors.js';
import { failureBeforeRelay, failureError, outcomeOfBrokenBody } from './call-failures.js';
import { requestedModel, type CallContext, type RecordCall } from './call-record.js';
import { AnswerCapture } from './answer-capture.js';
import type { CaptureBudget } from './capture-budget.js';
import { noUsage, usageForCall, type CallUsage } from './call-usage.js';
import { modelNameProblem } from '../accounting/model-names.js';
import { clientResponseHeaders } from './header-policy.js';
import { JsonUsageTap } from './json-usage-tap.js';
import { readRateLimitHeaders } from './rate-limit-headers.js';
import { SseUsageTap } from './sse-usage-tap.js';
import type { TokenCounter } from './token-counter.js';
import type { ToolCalls } from './usage.js';
import type { UpstreamAnswer } from './upstream-request.js';
import { whenWritable, writeToClient } from './write-with-backpressure.js';

export interface RelayDeps {
  recordCall: RecordCall;
  /** Remembers a Batch API job created by this call, before its answer is released, so its results are counted later. */
  rememberBatch?: (ctx: CallContext, answer: unknown) => Promise<void>;
  log: Logger;
  /** How much of an answer is kept for counting it when the upstream gives no usage. */
  captureLimit: number;
  /** What all calls in flight together may keep for counting. */
  captureBudget: CaptureBudget;
  counter: TokenCounter;
}

/**
 * Relays the upstream's answer as it arrives and reads its usage on the way.
 * The answer's last bytes (a JSON answer's last chunk, a stream's usage event
 * and `[DONE]`) are released only after the call is committed, so a caller
 * never sees a complete answer that was not recorded.
 */
export async function relayAnswer(deps: RelayDeps, ctx: CallContext, answer: UpstreamAnswer, out: ServerResponse): Promise<void> {
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
  const release = (part: Buffer): boolean => {
    if (!headSent) {
      out.writeHead(status, headers);
      headSent = true;
    }
    return writeToClient(out, part);
  };

  const sse = streamed ? new SseUsageTap(ctx.plan?.hideUsageOnlyChunk ?? false, new AnswerCapture(deps.captureLimit, deps.captureBudget)) : undefined;
  // Exactly one of the two taps reads the answer.
  const json = sse ? undefined : new JsonUsageTap(deps.captureLimit, deps.captureBudget);
  const capture = (sse ?? (json as JsonUsageTap)).capture;
  try {
    let lastChunk: Buffer | undefined;
    // Set while the upstream is held back for a client whose buffer is full.
    let waiting = false;
    const flowAgain = () => {
      waiting = false;
      answer.resume();
    };
    // Called by the upstream for each chunk, synchronously: no promise per chunk while the client keeps up.
    const relayChunk = (chunk: Buffer): boolean => {
      let writable = true;
      if (sse) {
        for (const part of sse.push(chunk)) writable = writeToClient(out, part) && writable;
      } else {
        // One chunk behind: the last one is released only after the commit.
        if (lastChunk) writable = release(lastChunk);
        lastChunk = chunk;
        json?.push(chunk);
      }
      if (writable) return true;
      if (!waiting) {
        waiting = true;
        whenWritable(out, flowAgain);
      }
      return false;
    };
    const bodyError = await answer.readBody(relayChunk);
    ctx.upstreamEndedNs = process.hrtime.bigint();

    const outcome = bodyError ? outcomeOfBrokenBody(bodyError, ctx.call.reason) : status >= 400 ? 'upstream_error' : 'ok';
    const failedUnrelayed = bodyError && !headSent ? failureBeforeRelay(outcome) : undefined;
    const read = sse ? await streamUsage(deps.counter, ctx, sse, status) : await jsonUsage(deps.counter, ctx, json as JsonUsageTap, status);
    // Counted: what was kept for counting is not needed while the call commits.
    capture.release();
    const rateLimits = status < 300 ? readRateLimitHeaders(answer.headers, Date.now()) : undefined;

    try {
      const facts = {
        status: failedUnrelayed?.status ?? status,
        outcome,
        model: read.model,
        streamed,
        usage: read.usage,
        serviceTier: read.serviceTier,
        tools: read.tools,
      };
      await deps.recordCall(ctx, facts, rateLimits);
      if (deps.rememberBatch && outcome === 'ok' && status === 200) await deps.rememberBatch(ctx, read.parsed);
    } catch (err) {
      // Not committed: the caller must not see a complete answer.
      deps.log.error({ err: errorText(err), user: ctx.user, endpoint: ctx.endpoint }, 'could not record the call; breaking off its answer');
      out.destroy();
      return;
    }
    if (failedUnrelayed && !out.destroyed) {
      out.writeHead(failedUnrelayed.status, { 'content-type': 'application/json; charset=utf-8' });
      out.end(openAiErrorBody(failureError(failedUnrelayed)));
      return;
    }
    if (bodyError || out.destroyed) {
      // Broken off upstream (or by shutdown): the caller sees an error, never a clean end.
      out.destroy();
      return;
    }
    // What is held is small (the last chunk, a stream's usage event and [DONE]): written at once, end() flushes it.
    for (const part of sse ? sse.held : lastChunk ? [lastChunk] : []) release(part);
    if (!headSent) out.writeHead(status, headers);
    out.end();
  } finally {
    // Whatever happened, the bytes kept for counting go back to the budget all calls share.
    capture.release();
  }
}

/** What the answer says the call cost: usage (or a count), the model, the service tier and built-in tool calls. */
interface AnswerRead {
  model: string;
  usage: CallUsage;
  serviceTier?: string;
  tools?: ToolCalls;
  parsed?: unknown;
}

async function streamUsage(counter: TokenCounter, ctx: CallContext, sse: SseUsageTap, status: number): Promise<AnswerRead> {
  sse.finish();
  const model = answeredModel(sse.model ?? sse.firstModel, ctx);
  const billed = { serviceTier: sse.serviceTier, tools: sse.tools };
  if (status >= 400 && !sse.usage) return { model, usage: noUsage(), ...billed };
  const answer = { capture: sse.capture, streamed: true };
  const usage = await usageForCall({ counter, policy: ctx.usagePolicy, reported: sse.usage, model, requestJson: ctx.plan?.json, answer });
  return { model, usage, ...billed };
}

async function jsonUsage(counter: TokenCounter, ctx: CallContext, json: JsonUsageTap, status: number): Promise<AnswerRead> {
  const read = json.result();
  const model = answeredModel(read.model, ctx);
  const billed = { serviceTier: read.serviceTier, tools: read.tools, parsed: read.parsed };
  if (status >= 400 && !read.usage) return { model, usage: noUsage(), ...billed };
  const answer = { capture: json.capture, streamed: false, parsed: read.parsed };
  const usage = await usageForCall({ counter, policy: ctx.usagePolicy, reported: read.usage, model, requestJson: ctx.plan?.json, answer });
  return { model, usage, ...billed };
}

/** The model the answer names, unless it is no model name (the caller's then stands for it). */
const answeredModel = (named: string | undefined, ctx: CallContext): string =>
  (named !== undefined && modelNameProblem(named) === undefined ? named : undefined) ?? requestedModel(ctx) ?? '';
