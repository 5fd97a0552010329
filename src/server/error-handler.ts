import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { StoreUnavailableError } from '../store/errors.js';
import { ApiError, openAiErrorBody } from '../http/errors.js';

/** Fastify's own errors, in our vocabulary. */
function fromFastify(err: FastifyError): ApiError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'body_too_large', `the request body is larger than the limit (server.body-limit)`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the request body is not valid JSON');
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, 'invalid_url', 'the URL has broken percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(414, 'url_too_long', 'a part of the URL is too long');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the request body is empty but its content-type says JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_content_type', `unsupported content-type: ${err.message}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_content_length', 'the content-length does not match the body');
    default:
      break;
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new ApiError(err.statusCode, 'invalid_request', err.message);
  }
  return undefined;
}

/** The path of a request target; an absolute-form target (`https://host/v1/models`) is read for its path too. */
const targetPath = (url: string) => url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '');

const isOpenAiPath = (url: string) => {
  const path = targetPath(url);
  return path === '/v1' || path.startsWith('/v1/') || path.startsWith('/v1?');
};

/** What an error answer is: its status, headers and body, the OpenAI shape on /v1/* and the admin shape elsewhere. */
function errorAnswer(url: string, err: ApiError): { status: number; headers: Record<string, string>; body: string } {
  const openAi = isOpenAiPath(url);
  const body = openAi
    ? openAiErrorBody(err)
    : JSON.stringify({ status: err.status, error: STATUS_CODES[err.status] ?? 'Error', code: err.code, message: err.message });
  return { status: err.status, headers: { ...err.headers, 'content-type': 'application/json; charset=utf-8' }, body };
}

function sendError(request: FastifyRequest, reply: FastifyReply, err: ApiError): void {
  const answer = errorAnswer(request.url, err);
  reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/** Anything thrown while handling a request, as the ApiError it is answered with; what was not expected is logged. */
function apiErrorOf(error: unknown, url: string, log: Logger): ApiError {
  if (error instanceof StoreUnavailableError) return new ApiError(503, 'database_unavailable', error.message, undefined, { 'retry-after': '5' });
  const apiError = error instanceof ApiError ? error : fromFastify(error as FastifyError);
  if (apiError) return apiError;
  log.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error), url }, 'unexpected error');
  return new ApiError(500, 'internal_error', 'the proxy failed to handle this request; see its log');
}

/** Every error reaches the caller as JSON with a status that names the problem; never a stack trace. */
export function createErrorHandler(log: Logger) {
  return function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    sendError(request, reply, apiErrorOf(error, request.url, log));
  };
}

/**
 * The same answers for requests served on node:http without Fastify (the /v1 calls, server/v1-entry.ts),
 * which raise Fastify's own errors where Fastify would have (a body over the limit, a broken content-type).
 */
export function createRawErrorWriter(log: Logger) {
  return function writeError(error: unknown, request: IncomingMessage, response: ServerResponse): void {
    // Only before an answer has begun; one already going out can only be broken off.
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const url = request.url ?? '';
    const answer = errorAnswer(url, apiErrorOf(error, url, log));
    response.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    response.end(answer.body);
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0];
  // `openai/gpt-4o` arrives as two path segments unless the caller encoded the slash.
  const hint = /^\/model\/[^/]+\/./.test(path) ? '; a model name with a slash must be URL-encoded (openai%2Fgpt-4o)' : '';
  sendError(request, reply, new ApiError(404, 'unknown_route', `no route for ${request.method} ${path}${hint}`));
}

/** Errors Fastify raises while routing (a broken URL), before any handler: the same shapes as the rest. */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(request, reply, fromFastify(error) ?? new ApiError(400, 'invalid_request', error.message));
}

/**
 * Requests Node's HTTP parser rejects (a NUL or DEL byte in a header, a
 * malformed request line) never reach a route: answer them here, in JSON, naming the problem.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
  // As Node itself does: never write an error into the middle of a response already going out on this socket.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const detail = err.reason ?? err.message;
  const body = openAiErrorBody(new ApiError(status, 'bad_http_request', `the request is not valid HTTP: ${detail} (${err.code ?? 'parse error'})`));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** CONNECT asks the proxy to open a tunnel; it never does. Answered on the socket, as no route sees it. */
export function refuseConnect(request: IncomingMessage, socket: Duplex): void {
  const body = openAiErrorBody(new ApiError(405, 'method_not_allowed', `CONNECT ${request.url ?? ''} is not forwarded: this proxy opens no tunnels`));
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
