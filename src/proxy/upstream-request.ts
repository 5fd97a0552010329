import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** What became of a request on its way up. */
export interface SendProgress {
  /** The whole request, head and body, was handed to the upstream's connection: the upstream may act on it (and bill it). */
  sent: boolean;
}

/** What aborts a call: an AbortSignal, or anything with these members (inflight-calls.ts has a lighter one). */
export interface AbortSource {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A call as it goes up; `signal` aborting breaks off the request, or the answer's body once it is coming. */
export interface UpstreamRequest {
  method: Dispatcher.HttpMethod;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer | Readable;
  signal?: AbortSource;
}

/** The answer's headers, names in lower case; a header sent more than once (set-cookie) is an array. */
type AnswerHeaders = Record<string, string | string[]>;

/** Takes one chunk of the answer's body; false holds the upstream back until `resume()`. */
type ChunkSink = (chunk: Buffer) => boolean;

export interface UpstreamAnswer {
  readonly statusCode: number;
  readonly headers: AnswerHeaders;
  /**
   * Hands the body to `sink`, chunk by chunk as it arrives. Resolves once the body ended: with undefined when it
   * ended whole, or with the error that broke it off (a timeout, a lost connection, the call's abort). Rejects only
   * when `sink` threw.
   */
  readBody(sink: ChunkSink): Promise<unknown>;
  /** Lets a body held back by the sink flow again. */
  resume(): void;
}

/**
 * Sends a call up with `pool.dispatch` and resolves with the answer's head.
 * `pool.request` would wrap the body in a Readable (a promise per chunk for
 * an async reader, abort listeners, a second parse of the headers); the
 * relay needs none of it, only the chunks and a way to hold the upstream back.
 * Notes in `progress` when the request has been sent in full, so that a call
 * whose answer then fails (a malformed answer, a connection closed without
 * one) can be told from one the upstream never got.
 */
export function requestUpstream(pool: Dispatcher, request: UpstreamRequest, progress: SendProgress): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    const handler = new UpstreamCall(request, progress, resolve, reject);
    pool.dispatch({ method: request.method, path: request.path, headers: request.headers, body: request.body }, handler);
  });
}

// Bytes an answer may bring before the relay starts reading it (a microtask later) without holding the upstream back.
const UNREAD_LIMIT = 64 * 1024;

/**
 * The dispatch handler of one call. It speaks the handler interface undici's
 * client drives directly (onConnect, onHeaders, onData, ...): in undici 7 only
 * that interface is told when the request was sent in full (onRequestSent;
 * the controller-style handlers are adapted and never hear of it), and it
 * takes the headers raw, as the one conversion below needs them.
 */
class UpstreamCall implements UpstreamAnswer, Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: AnswerHeaders = {};
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private abortReason: Error | undefined;
  private answered = false;
  private ended = false;
  private paused = false;
  private bodyError: unknown;
  private sinkError: unknown;
  // Chunks that came before the relay started reading (usually all of a short answer's, with its head).
  private unread: Buffer[] | undefined;
  private unreadBytes = 0;
  private sink: ChunkSink | undefined;
  private bodyEnded: ((err: unknown) => void) | undefined;
  private sinkFailed: ((err: unknown) => void) | undefined;

  constructor(
    private readonly request: UpstreamRequest,
    private readonly progress: SendProgress,
    private readonly answer: (answer: UpstreamAnswer) => void,
    private readonly noAnswer: (err: unknown) => void,
  ) {
    const { signal } = request;
    if (signal?.aborted) this.abortReason = abortError(signal);
    else signal?.addEventListener('abort', this.onAbort);
  }

  private readonly onAbort = () => {
    this.abortReason = abortError(this.request.signal as AbortSource);
    // Before onConnect, the abort waits for it; after the end it does nothing.
    this.abortUpstream?.(this.abortReason);
  };

  onConnect(abort: (err?: Error) => void): void {
    if (this.abortReason) {
      abort(this.abortReason);
      return;
    }
    this.abortUpstream = abort;
  }

  onRequestSent(): void {
    this.progress.sent = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: informational, the answer's own head follows.
    if (statusCode < 200) return true;
    this.statusCode = statusCode;
    this.headers = headersOf(rawHeaders);
    this.resumeUpstream = resume;
    this.answered = true;
    this.answer(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const sink = this.sink;
    if (!sink) {
      if (this.unread) this.unread.push(chunk);
      else this.unread = [chunk];
      this.unreadBytes += chunk.length;
      this.paused = this.unreadBytes > UNREAD_LIMIT;
      return !this.paused;
    }
    try {
      this.paused = !sink(chunk);
    } catch (err) {
      // undici aborts the request on a throw, and onError reports it as the relay's failure, not the upstream's.
      this.sinkError = err;
      throw err;
    }
    return !this.paused;
  }

  onComplete(): void {
    this.finish(undefined);
  }

  onError(err: Error): void {
    const body = this.request.body;
    // A request body still being read from the caller is of no use any more (as pool.request does).
    if (body && !Buffer.isBuffer(body) && !body.destroyed) body.on('error', noop).destroy(err);
    if (!this.answered) {
      this.request.signal?.removeEventListener('abort', this.onAbort);
      this.ended = true;
      this.noAnswer(err);
      return;
    }
    this.finish(err);
  }

  readBody(sink: ChunkSink): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.sink = sink;
      this.bodyEnded = resolve;
      this.sinkFailed = reject;
      const unread = this.unread;
      this.unread = undefined;
      if (unread) {
        let flowing = true;
        try {
          for (const chunk of unread) flowing = sink(chunk) && flowing;
        } catch (err) {
          this.sinkError = err;
          if (this.ended) reject(err);
          else this.abortUpstream?.(err as Error);
          return;
        }
        // Held back while unread: flows again unless the sink wants it held (its drain then resumes it).
        if (flowing) this.resume();
      }
      if (this.ended) this.settle();
    });
  }

  resume(): void {
    // Only a body still coming and held back by us: the parser's resume would otherwise act on the connection's next answer.
    if (!this.paused || this.ended) return;
    this.paused = false;
    this.resumeUpstream?.();
  }

  private finish(err: unknown): void {
    this.request.signal?.removeEventListener('abort', this.onAbort);
    this.ended = true;
    this.bodyError = err;
    if (this.sink) this.settle();
  }

  private settle(): void {
    if (this.sinkError !== undefined) this.sinkFailed?.(this.sinkError);
    else this.bodyEnded?.(this.bodyError);
  }
}

/** The raw [name, value, ...] list as one object; a repeated header keeps every value, in order. */
function headersOf(raw: (Buffer | string)[]): AnswerHeaders {
  // No prototype: a header named __proto__ or constructor is just a header.
  const headers: AnswerHeaders = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('latin1').toLowerCase();
    const value = raw[i + 1].toString('latin1');
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (typeof seen === 'string') headers[name] = [seen, value];
    else seen.push(value);
  }
  return headers;
}

const abortError = (signal: AbortSource): Error => (signal.reason instanceof Error ? signal.reason : new Error('aborted'));

const noop = () => undefined;
