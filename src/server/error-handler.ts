import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { STATUS_CODES } from 'node:http';
import { StoreUnavailableError } from '../store/errors.js';
import { ApiError, openAiErrorBody } from './errors.js';

/** Fastify's own errors, in our vocabulary. */
function fromFastify(err: FastifyError): ApiError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'body_too_large', `the request body is larger than the limit (server.body-limit)`);
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

export const isOpenAiPath = (url: string) => url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');

export function sendError(request: FastifyRequest, reply: FastifyReply, err: ApiError): void {
  if (isOpenAiPath(request.url)) {
    reply.code(err.status).header('content-type', 'application/json; charset=utf-8').send(openAiErrorBody(err));
  } else {
    reply.code(err.status).send({ status: err.status, error: STATUS_CODES[err.status] ?? 'Error', code: err.code, message: err.message });
  }
}

/** Every error reaches the caller as JSON with a status that names the problem; never a stack trace. */
export function createErrorHandler(log: Logger) {
  return function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    if (error instanceof StoreUnavailableError) {
      reply.header('retry-after', '5');
      sendError(request, reply, new ApiError(503, 'database_unavailable', error.message));
      return;
    }
    let apiError = error instanceof ApiError ? error : fromFastify(error as FastifyError);
    if (!apiError) {
      log.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error), url: request.url }, 'unexpected error');
      apiError = new ApiError(500, 'internal_error', 'the proxy failed to handle this request; see its log');
    }
    sendError(request, reply, apiError);
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  sendError(request, reply, new ApiError(404, 'unknown_route', `no route for ${request.method} ${request.url.split('?')[0]}`));
}
