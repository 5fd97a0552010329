import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errorText } from '../common/error-text.js';
import { openAiErrorBody } from '../http/errors.js';
import { failureBeforeRelay, failureError, outcomeOfBrokenBody } from './call-failures.js';
import { requestedModel, type CallContext, type RecordCall } from './call-record.js';
import { noUsage, usageForCall, type CallUsage } from './call-usage.js';
import { clientResponseHeaders } from './header-policy.js';
import { JsonUsageTap } from './json-usage-tap.js';
import { readRateLimitHeaders } from './rate-limit-headers.js';
import { SseUsageTap, parseEventData } from './sse-usage-tap.js';
import type { ToolCalls } from './usage.js';
import { writeWithBackpressure } from './write-with-backpressure.js';

export interface RelayDeps {
  recordCall: RecordCall;
  /** Remembers a Batch API job created by this call, before its answer is released, so its results are counted later. */
  rememberBatch?: (ctx: CallContext, answer: unknown) => Promise<void>;
  log: Logger;
  /** How much of an answer is kept for counting it when the upstream gives no usage. */
  captureLimit: number;
}

/**
 * Relays the upstream's answer as it arrives and reads its usage on the way.
 * The answer's last bytes (a JSON answer's last chunk, a stream's usage event
 * and `[DONE]`) are released only after the call is committed, so a caller
 * never sees a complete answer that was not recorded.
 */
export async function relayAnswer(deps: RelayDeps, ctx: CallContext, answer: Dispatcher.ResponseData, out: ServerResponse): Promise<void> {
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

  const sse = streamed ? new SseUsageTap(ctx.plan?.hideUsageOnlyChunk ?? false, deps.captureLimit) : undefined;
  // Exactly one of the two taps reads the answer.
  const json = sse ? undefined : new JsonUsageTap(deps.captureLimit);
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
        json?.push(chunk);
      }
    }
  } catch (err) {
    bodyError = err;
  }
  ctx.upstreamEndedNs = process.hrtime.bigint();

  const outcome = bodyError ? outcomeOfBrokenBody(bodyError, ctx.call.reason) : status >= 400 ? 'upstream_error' : 'ok';
  const failedUnrelayed = bodyError && !headSent ? failureBeforeRelay(outcome) : undefined;
  const read = sse ? await streamUsage(ctx, sse, status) : await jsonUsage(ctx, json as JsonUsageTap, status);
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
  for (const part of sse ? sse.held : lastChunk ? [lastChunk] : []) await release(part);
  if (!headSent) out.writeHead(status, headers);
  out.end();
}

/** What the answer says the call cost: usage (or a count), the model, the service tier and built-in tool calls. */
interface AnswerRead {
  model: string;
  usage: CallUsage;
  serviceTier?: string;
  tools?: ToolCalls;
  parsed?: unknown;
}

async function streamUsage(ctx: CallContext, sse: SseUsageTap, status: number): Promise<AnswerRead> {
  sse.finish();
  const model = sse.model ?? firstEventModel(sse) ?? requestedModel(ctx) ?? '';
  const billed = { serviceTier: sse.serviceTier, tools: sse.tools };
  if (status >= 400 && !sse.usage) return { model, usage: noUsage(), ...billed };
  const answer = { capture: sse.capture, streamed: true };
  return { model, usage: await usageForCall({ policy: ctx.usagePolicy, reported: sse.usage, model, requestJson: ctx.plan?.json, answer }), ...billed };
}

async function jsonUsage(ctx: CallContext, json: JsonUsageTap, status: number): Promise<AnswerRead> {
  const read = json.result();
  const model = read.model ?? requestedModel(ctx) ?? '';
  const billed = { serviceTier: read.serviceTier, tools: read.tools, parsed: read.parsed };
  if (status >= 400 && !read.usage) return { model, usage: noUsage(), ...billed };
  const answer = { capture: json.capture, streamed: false, parsed: read.parsed };
  return { model, usage: await usageForCall({ policy: ctx.usagePolicy, reported: read.usage, model, requestJson: ctx.plan?.json, answer }), ...billed };
}

/** The answered model of a stream that never sent usage: the first event names it. */
function firstEventModel(sse: SseUsageTap): string | undefined {
  const head = sse.capture.chunks.length ? sse.capture.chunks[0].toString('utf8', 0, 8192) : '';
  const first = parseEventData(head.split(/\r?\n\r?\n/)[0] ?? '') as { model?: unknown; response?: { model?: unknown } } | undefined;
  const model = first?.model ?? first?.response?.model;
  return typeof model === 'string' ? model : undefined;
}
