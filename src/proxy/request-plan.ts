import { ApiError, badRequest } from '../http/errors.js';
import { errorText } from '../common/error-text.js';
import { modelNameProblem } from '../accounting/model-names.js';

/** Endpoints whose requests must name a model, and whose streams get include_usage. */
const MODEL_REQUIRED = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses']);
const INCLUDE_USAGE_ENDPOINTS = new Set(['/v1/chat/completions', '/v1/completions']);

export interface RequestPlan {
  /** What goes upstream: the caller's bytes, or those bytes with include_usage spliced in. */
  body: Buffer;
  json: Record<string, unknown>;
  model: string | null;
  stream: boolean;
  /** The proxy asked for usage the caller did not: drop the usage-only chunk on the way back. */
  hideUsageOnlyChunk: boolean;
}

const INCLUDE_USAGE = Buffer.from('"stream_options":{"include_usage":true},');

/**
 * One JSON.parse to read `model` and `stream`; the bytes forwarded stay the
 * caller's, except that a stream gets `include_usage` when `askForUsage` is
 * set (it is not for upstreams that stream usage unasked).
 */
export function planJsonRequest(raw: Buffer, endpoint: string, askForUsage = true): RequestPlan {
  if (raw.length === 0) throw badRequest('invalid_json', 'the request body is empty; send a JSON object that names a model');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest('invalid_json', `the request body is not valid JSON: ${errorText(err)}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw badRequest('invalid_body', 'the request body must be a JSON object');
  }
  const body = json as Record<string, unknown>;
  const model = body.model;
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    throw badRequest('invalid_model', "'model' must be a non-empty string");
  }
  // The same rule as the admin API's: a name that could never be priced is not forwarded, nor listed in /models.
  const problem = typeof model === 'string' ? modelNameProblem(model) : undefined;
  if (problem) throw badRequest('invalid_model', `'model' is not a model name: ${problem}`);
  if (model === undefined && MODEL_REQUIRED.has(endpoint)) {
    throw badRequest('missing_model', "the request body must name a 'model'");
  }
  const stream = body.stream === true;
  const plan: RequestPlan = { body: raw, json: body, model: (model as string) ?? null, stream, hideUsageOnlyChunk: false };
  if (!stream || !askForUsage || !INCLUDE_USAGE_ENDPOINTS.has(endpoint)) return plan;

  const options = body.stream_options;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new ApiError(400, 'invalid_stream_options', "'stream_options' must be an object");
  }
  if ((options as { include_usage?: unknown } | undefined)?.include_usage === true) return plan;
  plan.hideUsageOnlyChunk = true;
  if (options === undefined) {
    // Splice after the opening brace: every other byte stays as the caller sent it.
    const open = raw.indexOf(0x7b);
    plan.body = Buffer.concat([raw.subarray(0, open + 1), INCLUDE_USAGE, raw.subarray(open + 1)]);
  } else {
    // Rare: the caller sent stream_options without include_usage. Re-serialising keeps every field.
    plan.body = reserialise({ ...body, stream_options: { ...(options ?? {}), include_usage: true } });
  }
  return plan;
}

function reserialise(json: Record<string, unknown>): Buffer {
  try {
    return Buffer.from(JSON.stringify(json));
  } catch {
    // JSON.stringify recurses: a body nested deeper than the stack allows cannot be rewritten.
    throw badRequest('invalid_body', 'the request body is nested too deeply to add stream_options.include_usage to it');
  }
}

export const requiresJsonBody = (endpoint: string) => MODEL_REQUIRED.has(endpoint);
