import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EndpointAnswers } from './endpoint-answers.js';

/** What the stand-in received, for asserting what the proxy forwarded. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type Behaviour =
  | { kind: 'chat' }
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'headers-then-stall' }
  | { kind: 'reset-mid-stream'; afterChunks: number }
  | { kind: 'stream-without-usage' }
  | { kind: 'custom'; handle: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void };

export const RATE_LIMIT_HEADERS = {
  'x-ratelimit-limit-requests': '500',
  'x-ratelimit-remaining-requests': '499',
  'x-ratelimit-reset-requests': '120ms',
  'x-ratelimit-limit-tokens': '500000',
  'x-ratelimit-remaining-tokens': '486895',
  'x-ratelimit-reset-tokens': '6m0s',
};

export const ANSWER_WORDS = ['Hello', ' from', ' the', ' stand', '-in', '.'];
export const STAND_IN_USAGE = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };

/**
 * A real HTTP server on loopback that answers like OpenAI's chat completions
 * endpoint: JSON or SSE (honouring stream_options.include_usage as OpenAI
 * does), with usage and x-ratelimit headers, plus the failure modes tests ask for.
 */
export class UpstreamStandIn {
  readonly received: ReceivedRequest[] = [];
  behaviour: Behaviour = { kind: 'chat' };
  /** The answered model: a dated snapshot, as OpenAI names it. */
  answeredModel = (requested: string) => (requested === 'gpt-4o' ? 'gpt-4o-2024-08-06' : requested);
  usage: Record<string, unknown> = STAND_IN_USAGE;
  /** Answers for /v1/responses, /v1/embeddings, /v1/completions, /v1/models, files, images, audio, moderations. */
  readonly endpoints = new EndpointAnswers();
  private server?: Server;
  private readonly sockets = new Set<import('node:net').Socket>();

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        this.answer(req, body, res);
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  get last(): ReceivedRequest {
    return this.received[this.received.length - 1];
  }

  private answer(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const b = this.behaviour;
    if (b.kind === 'custom') {
      b.handle(req, body, res);
      return;
    }
    if (b.kind === 'hang') return;
    if (b.kind === 'json') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
      res.end(JSON.stringify(b.body));
      return;
    }
    if (b.kind === 'chat' && this.endpoints.answer(req, body, res, this.answeredModel)) return;
    let parsed: Record<string, any> = {};
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      /* non-JSON bodies get the default answer */
    }
    const model = this.answeredModel(String(parsed.model ?? 'gpt-4o'));
    if (b.kind === 'headers-then-stall') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseChunk(model, { role: 'assistant', content: '' }, false));
      return;
    }
    if (parsed.stream === true) {
      this.stream(res, model, parsed, b);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...RATE_LIMIT_HEADERS });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-standin',
        object: 'chat.completion',
        created: 1_700_000_000,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: ANSWER_WORDS.join('') }, finish_reason: 'stop' }],
        usage: this.usage,
      }),
    );
  }

  private stream(res: ServerResponse, model: string, req: Record<string, any>, b: Behaviour): void {
    const includeUsage = req.stream_options?.include_usage === true && b.kind !== 'stream-without-usage';
    res.writeHead(200, { 'content-type': 'text/event-stream', ...RATE_LIMIT_HEADERS });
    const events = [sseChunk(model, { role: 'assistant', content: '' }, includeUsage)];
    for (const w of ANSWER_WORDS) events.push(sseChunk(model, { content: w }, includeUsage));
    events.push(sseChunk(model, {}, includeUsage, 'stop'));
    if (b.kind === 'reset-mid-stream') {
      for (const e of events.slice(0, b.afterChunks)) res.write(e);
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    if (includeUsage) {
      events.push(
        `data: ${JSON.stringify({ id: 'chatcmpl-standin', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: this.usage })}\n\n`,
      );
    }
    events.push('data: [DONE]\n\n');
    for (const e of events) res.write(e);
    res.end();
  }
}

function sseChunk(model: string, delta: Record<string, unknown>, withNullUsage: boolean, finish: string | null = null): string {
  const chunk: Record<string, unknown> = {
    id: 'chatcmpl-standin',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  if (withNullUsage) chunk.usage = null;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}
