import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';

/**
 * The upstream stand-in for `npm run bench`, run as its own process:
 * `node upstream-server.js PORT`. Answers chat completions like OpenAI does,
 * with no artificial delay, and is written to cost as little CPU as possible
 * so that it is never the bottleneck:
 *  - non-streaming: one fixed ~1 KB JSON answer with usage and x-ratelimit headers, prebuilt;
 *  - `stream: true`: `max_tokens` content chunks (default 20), then the usage chunk when
 *    `stream_options.include_usage` is set, then `[DONE]`;
 *  - `bench_chunk_bytes`: the content size of each streamed chunk (for the 100 MB answer),
 *    written with backpressure.
 */

const MODEL = 'gpt-4o-mini-2024-07-18';
const USAGE = {
  prompt_tokens: 215,
  completion_tokens: 187,
  total_tokens: 402,
  prompt_tokens_details: { cached_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0 },
};

const RATE_LIMIT_HEADERS = {
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-tokens': '29999598',
  'x-ratelimit-reset-tokens': '0s',
  'openai-processing-ms': '412',
  'x-request-id': 'req_bench0000000000000000000000000',
};

const ANSWER_TEXT =
  'Benchmarks on a shared machine are noisy, so this answer is fixed: the stand-in always says the same thing, ' +
  'of about the size of a short real answer, so that every run forwards the same bytes. ' +
  'It carries usage like OpenAI does, and the rate-limit headers the proxy records. '.repeat(4);

const JSON_ANSWER = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench000000000000000000000',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER_TEXT, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: USAGE,
    system_fingerprint: 'fp_bench',
  }),
);

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(JSON_ANSWER.length), ...RATE_LIMIT_HEADERS };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...RATE_LIMIT_HEADERS };

function sseEvent(delta: Record<string, unknown>, withNullUsage: boolean, finish: string | null = null): Buffer {
  const chunk: Record<string, unknown> = {
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: MODEL,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
  if (withNullUsage) chunk.usage = null;
  return Buffer.from(`data: ${JSON.stringify(chunk)}\n\n`);
}

const USAGE_EVENT = Buffer.from(
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model: MODEL, choices: [], usage: USAGE })}\n\n`,
);
const DONE_EVENT = Buffer.from('data: [DONE]\n\n');
const eventCache = new Map<string, Buffer>();

function cachedEvent(kind: string, make: () => Buffer): Buffer {
  let event = eventCache.get(kind);
  if (!event) eventCache.set(kind, (event = make()));
  return event;
}

async function stream(res: ServerResponse, request: Record<string, any>): Promise<void> {
  const includeUsage = request.stream_options?.include_usage === true;
  const chunks = Number.isInteger(request.max_tokens) && request.max_tokens > 0 ? request.max_tokens : 20;
  const chunkBytes = Number.isInteger(request.bench_chunk_bytes) && request.bench_chunk_bytes > 0 ? request.bench_chunk_bytes : 4;
  const u = includeUsage ? 'u' : 'n';
  const first = cachedEvent(`first-${u}`, () => sseEvent({ role: 'assistant', content: '' }, includeUsage));
  const piece = cachedEvent(`piece-${u}-${chunkBytes}`, () => sseEvent({ content: 'x'.repeat(chunkBytes) }, includeUsage));
  const last = cachedEvent(`last-${u}`, () => sseEvent({}, includeUsage, 'stop'));
  res.writeHead(200, SSE_HEADERS);
  res.write(first);
  for (let i = 0; i < chunks; i++) {
    if (!res.write(piece)) {
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
      if (res.destroyed) return;
    }
  }
  res.write(last);
  if (includeUsage) res.write(USAGE_EVENT);
  res.end(DONE_EVENT);
}

function answer(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  if (!req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"the bench stand-in only answers chat completions","type":"invalid_request_error"}}');
    return;
  }
  // Cheap test first: only streaming requests need their options read.
  if (body.indexOf('"stream"') === -1) {
    res.writeHead(200, JSON_HEADERS);
    res.end(JSON_ANSWER);
    return;
  }
  let request: Record<string, any>;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid JSON","type":"invalid_request_error"}}');
    return;
  }
  if (request.stream !== true) {
    res.writeHead(200, JSON_HEADERS);
    res.end(JSON_ANSWER);
    return;
  }
  void stream(res, request);
}

const port = Number(process.argv[2] ?? 0);
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => answer(req, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), res));
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof address === 'object' && address ? address.port : port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
