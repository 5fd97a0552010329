/**
 * The one error vocabulary. Anything the proxy or the admin API rejects is an
 * ApiError; `error-handler.ts` turns it into the OpenAI error shape on /v1/*
 * and into the admin shape elsewhere.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: string = typeForStatus(status),
    /** Sent with the error answer: Retry-After and x-ratelimit-* of a refused call. */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'invalid_request_error';
  if (status < 500) return 'invalid_request_error';
  if (status === 503) return 'service_unavailable';
  return 'proxy_error';
}

export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
export const notFound = (code: string, message: string) => new ApiError(404, code, message);

/** The OpenAI-style body every /v1/* error uses. */
export function openAiErrorBody(err: ApiError): string {
  return JSON.stringify({ error: { message: err.message, type: err.type, code: err.code, param: null } });
}
