import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** True only when the whole message arrived (final chunk or full content-length): a clean end. */
  complete: boolean;
  /** Set when the connection failed before any answer (refused, reset). */
  error?: Error;
  text(): string;
  json(): any;
}

/** A call with node:http, to see exactly which bytes arrived and whether the answer ended cleanly. */
export function rawCall(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; onData?: (chunk: Buffer) => void } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const finish = (status: number, headers: IncomingHttpHeaders, complete: boolean, error?: Error) => {
      const body = Buffer.concat(chunks);
      resolve({ status, headers, body, complete, error, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
    };
    let answered = false;
    const req = httpRequest(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: false }, (res) => {
      answered = true;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        opts.onData?.(c);
      });
      res.on('error', () => undefined);
      res.on('close', () => finish(res.statusCode ?? 0, res.headers, res.complete));
    });
    req.on('error', (err) => {
      if (!answered) finish(0, {}, false, err);
    });
    req.end(opts.body);
  });
}

export const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello to the stand-in, please.' }], ...extra });

export const jsonHeaders = (user = 'adam') => ({ 'content-type': 'application/json', 'x-user': user });
