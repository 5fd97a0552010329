import { errorCodes } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';

/** The /v1 handler (proxy/forward-call.ts): the body as Fastify's parsers gave it, a Buffer for JSON, else the stream. */
type CallHandler = (request: IncomingMessage, out: ServerResponse, body: Buffer | Readable | undefined) => Promise<void>;

export interface V1EntryDeps {
  forwardCall: CallHandler;
  /** Answers what forwardCall or the body reading threw, as Fastify's error handler would have (server/error-handler.ts). */
  writeError: (error: unknown, request: IncomingMessage, out: ServerResponse) => void;
  bodyLimitBytes: number;
  log: Logger;
}

// Fastify's own lists: methods it reads no body for, and those it routes to '/v1/*' without conditions (QUERY has some).
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE']);
const DIRECT_METHODS = new Set([...BODYLESS, 'DELETE', 'OPTIONS', 'PATCH', 'PUT', 'POST']);

// Fastify's reading of a content-type: a `type/subtype` of token characters, compared lower-cased.
const TYPE_NAME = /^[\w!#$%&'*+.^`|~-]+$/;
const SUBTYPE_NAME = /^[\w!#$%&'*+.^`|~-]+\s*$/;
const JSON_SUFFIX = /^application\/[\w.-]+\+json/;

/**
 * The hot path's way in: /v1 calls are served on node:http, past Fastify's
 * router, request and reply objects and hooks, which cost a tenth of the
 * proxy's CPU. Everything else, and any /v1 target whose routing Fastify
 * decides in ways not worth repeating here (percent-escapes, absolute form,
 * `accept-version`, QUERY), still goes to Fastify, whose '/v1/*' route hands
 * it to `serve` too: what a call sees does not depend on which way it came in.
 */
export class V1Entry {
  private closing = false;

  constructor(private readonly deps: V1EntryDeps) {}

  /**
   * Whether Fastify's router would certainly have taken this request to '/v1/*', without an error: a path under
   * /v1/ that is more than `/v1/` once a trailing slash is dropped (ignoreTrailingSlash), with no percent-escape
   * before its query, which the router decodes and may refuse.
   */
  takes(request: IncomingMessage): boolean {
    const url = request.url ?? '';
    if (!url.startsWith('/v1/') || !DIRECT_METHODS.has(request.method ?? '') || request.headers['accept-version'] !== undefined) return false;
    for (let i = 4; i < url.length; i++) {
      const c = url.charCodeAt(i);
      if (c === 0x3f || c === 0x23) return i > 4; // `?` or `#` ends the path
      if (c === 0x25) return false; // `%`
    }
    return url.length > 4;
  }

  /** From now on calls are refused with Fastify's 503 (return503OnClosing); calls in flight go on. */
  close(): void {
    this.closing = true;
  }

  serve = (request: IncomingMessage, out: ServerResponse): void => {
    // As Fastify did: an error on one caller's response (a write after its end) must never take the process down.
    out.on('error', ignoreResponseError);
    if (this.closing) {
      refuseWhileClosing(request, out, this.deps.log);
      return;
    }
    void this.forward(request, out);
  };

  private async forward(request: IncomingMessage, out: ServerResponse): Promise<void> {
    try {
      // The body is read before anything else is looked at, as Fastify read it before calling the route.
      await this.deps.forwardCall(request, out, await this.bodyOf(request, out));
    } catch (err) {
      this.deps.writeError(err, request, out);
    }
  }

  /**
   * What Fastify's '/v1/*' parsers gave: JSON types in one Buffer under the limit (read once, to find model and
   * stream, and forwarded as the caller's bytes); any other body (multipart uploads, audio) as the stream, not
   * held to the JSON limit.
   */
  private bodyOf(request: IncomingMessage, out: ServerResponse): Buffer | Readable | undefined | Promise<Buffer> {
    if (BODYLESS.has(request.method ?? '')) return undefined;
    const contentType = request.headers['content-type'];
    if (contentType === undefined) {
      const length = request.headers['content-length'];
      const empty = request.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
      return empty ? undefined : request;
    }
    // What nearly every caller sends needs no parsing.
    const media = contentType === 'application/json' ? contentType : mediaType(contentType);
    if (media === undefined) throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE();
    if (media === 'application/json' || JSON_SUFFIX.test(media)) return readWhole(request, out, this.deps.bodyLimitBytes);
    return request;
  }
}

/** The socket's own error ends the response; nothing more is owed to that caller. */
function ignoreResponseError(): void {}

/** `type/subtype` of a content-type, lower-cased, or undefined when Fastify would refuse it as no media type. */
function mediaType(header: string): string | undefined {
  if (header === '' || header === 'undefined') return undefined;
  const semicolon = header.indexOf(';');
  const media = semicolon === -1 ? header : header.slice(0, semicolon);
  const slash = media.indexOf('/');
  if (slash === -1) return undefined;
  const type = media.slice(0, slash).trimStart().toLowerCase();
  const subtype = media
    .slice(slash + 1)
    .trimEnd()
    .toLowerCase();
  return TYPE_NAME.test(type) && SUBTYPE_NAME.test(subtype) ? `${type}/${subtype}` : undefined;
}

/**
 * The body in one Buffer, refused with Fastify's errors when it is over the limit or shorter than its
 * content-length; as Fastify, the connection is then not kept, since the caller may still be sending.
 */
function readWhole(request: IncomingMessage, out: ServerResponse, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  return new Promise<Buffer>((resolve, reject) => {
    const refuse = (err: Error) => {
      out.setHeader('connection', 'close');
      reject(err);
    };
    if (declared > limit) {
      refuse(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        refuse(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      if (!Number.isNaN(declared) && received !== declared) refuse(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      else resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error & { statusCode?: number }) => {
      stop();
      if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
      refuse(err);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/** Fastify's answer to a request arriving while it closes, byte for byte. */
function refuseWhileClosing(request: IncomingMessage, out: ServerResponse, log: Logger): void {
  if (request.httpVersionMajor !== 2) out.setHeader('Connection', 'close');
  out.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': '80' });
  out.end('{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}');
  log.info({ res: { statusCode: 503 } }, 'request aborted - refusing to accept new requests as server is closing');
}
