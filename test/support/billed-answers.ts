import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Behaviour } from './upstream-stand-in.js';

/**
 * Upstream answers that carry what OpenAI bills by, field for field as its
 * API reference names them: `service_tier`, the usage details of chat,
 * Responses, images and transcriptions, and Responses output items for
 * built-in tools. Each test states the usage it wants and works out the cost
 * by hand.
 */
const CREATED = 1_700_000_000;

export interface AnswerShape {
  /** The answer's `model`; default: the requested one. */
  model?: string;
  serviceTier?: string;
  usage: Record<string, unknown>;
  /** Responses output items besides the message (web_search_call, ...). */
  toolItems?: Record<string, unknown>[];
}

/** A stand-in behaviour answering chat completions and Responses (JSON or SSE, as the request asks) with `shape`. */
export function billedAnswers(shape: AnswerShape): Behaviour {
  return {
    kind: 'custom',
    handle(req: IncomingMessage, body: Buffer, res: ServerResponse) {
      const request = JSON.parse(body.toString('utf8') || '{}') as Record<string, any>;
      const model = shape.model ?? String(request.model);
      const path = (req.url ?? '').split('?')[0];
      if (path === '/v1/responses') return request.stream ? streamResponse(res, model, shape) : json(res, responseObject(model, shape));
      if (path === '/v1/chat/completions') return request.stream ? streamChat(res, model, shape) : json(res, chatCompletion(model, shape));
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no answer for ${path}`, type: 'invalid_request_error' } }));
    },
  };
}

/** A stand-in behaviour answering one path with a JSON body, other paths with 404. */
export function jsonAnswer(path: string, body: unknown): Behaviour {
  return {
    kind: 'custom',
    handle(req: IncomingMessage, _body: Buffer, res: ServerResponse) {
      if ((req.url ?? '').split('?')[0] !== path) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not here', type: 'invalid_request_error' } }));
        return;
      }
      json(res, body);
    },
  };
}

/** POST /v1/audio/speech: the answer is audio bytes, no usage. */
export function speechAnswer(): Behaviour {
  return {
    kind: 'custom',
    handle(_req: IncomingMessage, _body: Buffer, res: ServerResponse) {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.end(Buffer.alloc(4096, 0xff));
    },
  };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function chatCompletion(model: string, shape: AnswerShape) {
  return {
    id: 'chatcmpl-billed',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: shape.usage,
    ...(shape.serviceTier === undefined ? {} : { service_tier: shape.serviceTier }),
    system_fingerprint: 'fp_billed',
  };
}

/** Chat streams carry service_tier on every chunk; usage comes in the last, choice-less chunk (include_usage). */
function streamChat(res: ServerResponse, model: string, shape: AnswerShape): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (choices: unknown[], usage: unknown) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-billed',
      object: 'chat.completion.chunk',
      created: CREATED,
      model,
      ...(shape.serviceTier === undefined ? {} : { service_tier: shape.serviceTier }),
      system_fingerprint: 'fp_billed',
      choices,
      usage,
    })}\n\n`;
  res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], null));
  res.write(chunk([{ index: 0, delta: { content: 'Hello.' }, finish_reason: null }], null));
  res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], null));
  res.write(chunk([], shape.usage));
  res.end('data: [DONE]\n\n');
}

function responseObject(model: string, shape: AnswerShape, status = 'completed') {
  const message = {
    id: 'msg_billed',
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'Hello.', annotations: [] }],
  };
  return {
    id: 'resp_billed',
    object: 'response',
    created_at: CREATED,
    status,
    model,
    output: status === 'completed' ? [...(shape.toolItems ?? []), message] : [],
    usage: status === 'completed' ? shape.usage : null,
    ...(shape.serviceTier === undefined ? {} : { service_tier: shape.serviceTier }),
    error: null,
    incomplete_details: null,
    tools: [],
    metadata: {},
  };
}

function streamResponse(res: ServerResponse, model: string, shape: AnswerShape): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  let seq = 0;
  const send = (type: string, fields: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`);
  send('response.created', { response: responseObject(model, shape, 'in_progress') });
  send('response.output_text.delta', { item_id: 'msg_billed', output_index: 0, content_index: 0, delta: 'Hello.', logprobs: [] });
  send('response.completed', { response: responseObject(model, shape) });
  res.end();
}
