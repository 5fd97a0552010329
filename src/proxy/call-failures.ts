import { ApiError } from '../http/errors.js';
import type { CallOutcome } from '../store/types.js';
import type { AbortReason } from './inflight-calls.js';

/** One way a call can fail, as the caller sees it and as the ledger records it. */
export interface CallFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** What the row says; null for a call refused before anything was forwarded. */
  readonly outcome: CallOutcome | null;
  /** Recorded only when the upstream may have seen (and billed) the call. */
  readonly recorded: boolean;
}

const failure = (status: number, code: string, message: string, outcome: CallOutcome | null, recorded: boolean): CallFailure => ({
  status,
  code,
  message,
  outcome,
  recorded,
});

/** Every failure a /v1/* call can end in; nothing else spells these codes or messages. */
export const CALL_FAILURES = {
  cannotRecord: failure(
    503,
    'cannot_record',
    'the proxy cannot record calls right now (neither its database nor its journal can be written); nothing was forwarded',
    null,
    false,
  ),
  clientClosed: failure(499, 'client_closed', 'the caller went away', 'client_aborted', true),
  shuttingDown: failure(503, 'shutting_down', 'the proxy is shutting down', 'shutdown', true),
  noAnswerInTime: failure(504, 'upstream_timeout', 'the upstream did not answer in time', 'timeout', true),
  connectTimeout: failure(504, 'upstream_timeout', 'timed out connecting to the upstream', 'timeout', false),
  unreachable: failure(502, 'upstream_unreachable', 'the upstream could not be reached', 'unreachable', false),
  badAnswer: failure(502, 'upstream_bad_answer', 'the upstream answered with a malformed HTTP response', 'upstream_bad_answer', true),
  closedWithoutAnswer: failure(502, 'upstream_closed', 'the upstream closed the connection without answering', 'upstream_closed', true),
  stalledBeforeRelay: failure(504, 'upstream_timeout', 'the upstream stopped sending its answer before any of it arrived', 'timeout', true),
  brokenBeforeRelay: failure(502, 'upstream_broken', 'the upstream broke off its answer before any of it arrived', 'upstream_aborted', true),
} as const satisfies Record<string, CallFailure>;

export const failureError = (f: CallFailure): ApiError => new ApiError(f.status, f.code, f.message);

const CONNECTION_LOST = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

const errorCode = (err: unknown): string => (err as { code?: string }).code ?? (err as Error).name ?? 'error';

/**
 * Why a call got no answer at all: the caller left, shutdown, the upstream could not be reached in time, or, once the
 * whole request was sent (`sent`), the upstream answered with something that is not HTTP or closed without answering.
 * Those last may have been billed, so they are recorded.
 */
export function failureOfRequest(err: unknown, reason: AbortReason | undefined, sent: boolean): CallFailure {
  if (reason === 'client_aborted') return CALL_FAILURES.clientClosed;
  if (reason === 'shutdown') return CALL_FAILURES.shuttingDown;
  const code = errorCode(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return CALL_FAILURES.noAnswerInTime;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return CALL_FAILURES.connectTimeout;
  if (sent) {
    if (CONNECTION_LOST.has(code)) return CALL_FAILURES.closedWithoutAnswer;
    return { ...CALL_FAILURES.badAnswer, message: `${CALL_FAILURES.badAnswer.message} (${code})` };
  }
  return { ...CALL_FAILURES.unreachable, message: `${CALL_FAILURES.unreachable.message} (${code})` };
}

/** How an answer whose body broke off ended. */
export function outcomeOfBrokenBody(err: unknown, reason: AbortReason | undefined): CallOutcome {
  if (reason) return reason;
  return errorCode(err) === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'upstream_aborted';
}

/** The error a caller gets when the answer broke off before any byte of it was relayed. */
export function failureBeforeRelay(outcome: CallOutcome): CallFailure {
  if (outcome === 'timeout') return CALL_FAILURES.stalledBeforeRelay;
  if (outcome === 'shutdown') return CALL_FAILURES.shuttingDown;
  if (outcome === 'client_aborted') return CALL_FAILURES.clientClosed;
  return CALL_FAILURES.brokenBeforeRelay;
}
