import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANSWER_WORDS, RATE_LIMIT_HEADERS } from './upstream-stand-in.js';

/** Usage as OpenAI reports it for each endpoint; tests compare recorded rows with these. */
export const RESPONSES_USAGE = {
  input_tokens: 40,
  input_tokens_details: { cached_tokens: 16 },
  output_tokens: 20,
  output_tokens_details: { reasoning_tokens: 8 },
  total_tokens: 60,
};
export const EMBEDDINGS_USAGE = { prompt_tokens: 8, total_tokens: 8 };
export const COMPLETIONS_USAGE = { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 };
export const IMAGES_USAGE = { input_tokens: 50, output_tokens: 4160, total_tokens: 4210, input_tokens_details: { text_tokens: 50, image_tokens: 0 } };
export const TRANSCRIPTION_USAGE = {
  type: 'tokens',
  input_tokens: 30,
  output_tokens: 9,
  total_tokens: 39,
  input_token_details: { audio_tokens: 30, text_tokens: 0 },
};

export type ResponsesEnding = 'completed' | 'incomplete' | 'failed';

const CREATED = 1_700_000_000;
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json', ...RATE_LIMIT_HEADERS });
  res.end(JSON.stringify(body));
};

/**
 * Answers for the endpoints besides chat completions, shaped like OpenAI's:
 * Responses (JSON and SSE, ending completed, incomplete or failed),
 * embeddings (float or base64), legacy completions (JSON and SSE with
 * include_usage), models, multipart file uploads and transcriptions, image
 * generation and moderations.
 */
export class EndpointAnswers {
  responsesEnding: ResponsesEnding = 'completed';
  /** null: the closing event carries `"usage": null` (a response that failed before it began). */
  responsesUsage: Record<string, unknown> | null = RESPONSES_USAGE;

  /** True when the path is one of these endpoints and it was answered. */
  answer(req: IncomingMessage, body: Buffer, res: ServerResponse, answeredModel: (requested: string) => string): boolean {
    const path = (req.url ?? '').split('?')[0];
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/v1/models') {
      json(res, 200, { object: 'list', data: ['gpt-4o', 'gpt-4.1', 'text-embedding-3-small'].map((id) => modelObject(id)) });
      return true;
    }
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      json(res, 200, modelObject(decodeURIComponent(path.slice('/v1/models/'.length))));
      return true;
    }
    if (method === 'POST' && path === '/v1/files') {
      json(res, 200, fileObject(body, req.headers['content-type']));
      return true;
    }
    if (method === 'POST' && path === '/v1/audio/transcriptions') {
      json(res, 200, { text: ANSWER_WORDS.join(''), usage: TRANSCRIPTION_USAGE });
      return true;
    }
    const request = parse(body);
    const model = answeredModel(String(request.model ?? ''));
    if (method === 'POST' && path === '/v1/responses') {
      if (request.stream === true) this.streamResponse(res, model);
      else json(res, 200, this.response(model, this.responsesEnding));
      return true;
    }
    if (method === 'POST' && path === '/v1/embeddings') {
      json(res, 200, embeddings(request, model));
      return true;
    }
    if (method === 'POST' && path === '/v1/completions') {
      if (request.stream === true) streamCompletion(res, model, request.stream_options?.include_usage === true);
      else json(res, 200, completion(model));
      return true;
    }
    if (method === 'POST' && path === '/v1/images/generations') {
      // OpenAI's image answers name no model; usage is in input/output tokens.
      json(res, 200, { created: CREATED, data: [{ b64_json: Buffer.from('not really a png').toString('base64') }], usage: IMAGES_USAGE });
      return true;
    }
    if (method === 'POST' && path === '/v1/moderations') {
      json(res, 200, { id: 'modr-standin', model: 'omni-moderation-2024-09-26', results: [{ flagged: false, categories: {}, category_scores: {} }] });
      return true;
    }
    return false;
  }

  private response(model: string, status: ResponsesEnding | 'in_progress', output: unknown[] = [messageItem('completed')]) {
    return {
      id: 'resp_standin',
      object: 'response',
      created_at: CREATED,
      status,
      model,
      output: status === 'in_progress' ? [] : output,
      usage: status === 'in_progress' ? null : this.responsesUsage,
      error: status === 'failed' ? { code: 'server_error', message: 'The model failed to finish the answer.' } : null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      parallel_tool_calls: true,
      tool_choice: 'auto',
      tools: [],
      temperature: 1,
      top_p: 1,
      metadata: {},
    };
  }

  /** The event sequence OpenAI sends for one text message, closed by response.<ending>. */
  private streamResponse(res: ServerResponse, model: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...RATE_LIMIT_HEADERS });
    let seq = 0;
    const send = (type: string, fields: Record<string, unknown>) => {
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`);
    };
    const at = { item_id: 'msg_standin', output_index: 0, content_index: 0 };
    send('response.created', { response: this.response(model, 'in_progress') });
    send('response.in_progress', { response: this.response(model, 'in_progress') });
    send('response.output_item.added', { output_index: 0, item: messageItem('in_progress', '') });
    send('response.content_part.added', { ...at, part: { type: 'output_text', text: '', annotations: [] } });
    for (const w of ANSWER_WORDS) send('response.output_text.delta', { ...at, delta: w, logprobs: [] });
    send('response.output_text.done', { ...at, text: ANSWER_WORDS.join(''), logprobs: [] });
    send('response.content_part.done', { ...at, part: { type: 'output_text', text: ANSWER_WORDS.join(''), annotations: [] } });
    send('response.output_item.done', { output_index: 0, item: messageItem('completed') });
    send(`response.${this.responsesEnding}`, { response: this.response(model, this.responsesEnding) });
    res.end();
  }
}

function messageItem(status: string, text = ANSWER_WORDS.join('')) {
  return {
    id: 'msg_standin',
    type: 'message',
    status,
    role: 'assistant',
    content: text === '' ? [] : [{ type: 'output_text', text, annotations: [] }],
  };
}

function modelObject(id: string) {
  return { id, object: 'model', created: CREATED, owned_by: 'openai' };
}

/** A file object for a multipart upload; `bytes` is the whole request body the stand-in received. */
function fileObject(body: Buffer, contentType: string | undefined) {
  const text = body.toString('latin1');
  const filename = /filename="([^"]*)"/.exec(text)?.[1] ?? 'upload';
  const purpose = /name="purpose"\r\n\r\n([^\r]*)\r\n/.exec(text)?.[1] ?? '';
  return { id: 'file-standin', object: 'file', bytes: body.length, created_at: CREATED, filename, purpose, status: 'processed', content_type: contentType };
}

/** One vector per input, `dimensions` long (8 unless asked), as floats or base64 float32 as the request says. */
function embeddings(request: Record<string, any>, model: string) {
  const inputs = Array.isArray(request.input) ? request.input : [request.input];
  const dims = typeof request.dimensions === 'number' ? request.dimensions : 8;
  const data = inputs.map((_: unknown, index: number) => {
    const vector = Float32Array.from({ length: dims }, (_v, i) => (i + 1) / (dims + index + 1));
    const embedding = request.encoding_format === 'base64' ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
    return { object: 'embedding', index, embedding };
  });
  return { object: 'list', data, model, usage: EMBEDDINGS_USAGE };
}

function completion(model: string) {
  return {
    id: 'cmpl-standin',
    object: 'text_completion',
    created: CREATED,
    model,
    choices: [{ index: 0, text: ANSWER_WORDS.join(''), logprobs: null, finish_reason: 'stop' }],
    usage: COMPLETIONS_USAGE,
  };
}

/** Legacy completions stream like chat: with include_usage, `"usage": null` on each chunk and a last usage-only chunk. */
function streamCompletion(res: ServerResponse, model: string, includeUsage: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', ...RATE_LIMIT_HEADERS });
  const chunk = (choices: unknown[], usage?: unknown) => {
    const c: Record<string, unknown> = { id: 'cmpl-standin', object: 'text_completion', created: CREATED, model, choices };
    if (includeUsage) c.usage = usage ?? null;
    return `data: ${JSON.stringify(c)}\n\n`;
  };
  for (const [i, w] of ANSWER_WORDS.entries()) {
    res.write(chunk([{ index: 0, text: w, logprobs: null, finish_reason: i === ANSWER_WORDS.length - 1 ? 'stop' : null }]));
  }
  if (includeUsage) res.write(chunk([], COMPLETIONS_USAGE));
  res.write('data: [DONE]\n\n');
  res.end();
}

function parse(body: Buffer): Record<string, any> {
  try {
    const v = JSON.parse(body.toString('utf8'));
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}
