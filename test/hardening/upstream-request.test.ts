import { createServer, type Server } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { requestUpstream, type UpstreamAnswer } from '../../src/proxy/upstream-request.js';

let server: Server | undefined;
let pool: Pool | undefined;
afterEach(async () => {
  await pool?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

/** A TCP server that does `onRequest` with each socket once it has read the whole request. */
async function upstream(onRequest: (socket: import('node:net').Socket) => void): Promise<string> {
  server = createServer((socket) => {
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\n') && seen.endsWith('{"model":"gpt-4o"}')) onRequest(socket);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

const post = {
  method: 'POST' as const,
  path: '/v1/chat/completions',
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{"model":"gpt-4o"}'),
};

describe('requestUpstream tells a request the upstream got from one it did not', () => {
  it('notes a request sent in full before the upstream closed without answering', async () => {
    pool = new Pool(await upstream((s) => s.destroy()));
    const progress = { sent: false };
    await expect(requestUpstream(pool, post, progress)).rejects.toThrow();
    expect(progress.sent).toBe(true);
  });

  it('answers as pool.request does', async () => {
    pool = new Pool(await upstream((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}')));
    const progress = { sent: false };
    const answer = await requestUpstream(pool, post, progress);
    expect(answer.statusCode).toBe(200);
    expect(await bodyText(answer)).toBe('{}');
    expect(progress.sent).toBe(true);
  });

  it('leaves it unsent when the connection is refused', async () => {
    const url = await upstream(() => undefined);
    await new Promise((r) => server!.close(r));
    server = undefined;
    pool = new Pool(url);
    const progress = { sent: false };
    await expect(requestUpstream(pool, post, progress)).rejects.toThrow();
    expect(progress.sent).toBe(false);
  });
});

/** The whole body as text, and how the body ended. */
async function bodyText(answer: UpstreamAnswer): Promise<string> {
  const chunks: Buffer[] = [];
  const ended = await answer.readBody((chunk) => chunks.push(chunk) > 0);
  if (ended) throw ended;
  return Buffer.concat(chunks).toString();
}

const head = (extra: string) => `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n${extra}\r\n`;

describe('the answer requestUpstream hands the relay', () => {
  it('keeps every value of a repeated header, names in lower case', async () => {
    pool = new Pool(
      await upstream((s) =>
        s.end('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\nX-Request-Id: r1\r\n__proto__: p\r\ncontent-length: 0\r\n\r\n'),
      ),
    );
    const answer = await requestUpstream(pool, post, { sent: false });
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2', 'c=3']);
    expect(answer.headers['x-request-id']).toBe('r1');
    expect(Object.entries(answer.headers)).toContainEqual(['__proto__', 'p']);
    expect(await bodyText(answer)).toBe('');
  });

  it('ends the body with the error when the upstream breaks it off, after what came before', async () => {
    pool = new Pool(
      await upstream((s) => {
        s.write(`${head('transfer-encoding: chunked\r\n')}5\r\nhello\r\n`);
        setImmediate(() => s.destroy());
      }),
    );
    const answer = await requestUpstream(pool, post, { sent: false });
    const chunks: Buffer[] = [];
    const ended = await answer.readBody((chunk) => chunks.push(chunk) > 0);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    expect((ended as { code?: string }).code).toBe('UND_ERR_SOCKET');
  });

  it("breaks off the body when the call's signal aborts", async () => {
    pool = new Pool(await upstream((s) => s.write(`${head('transfer-encoding: chunked\r\n')}5\r\nhello\r\n`)));
    const controller = new AbortController();
    const answer = await requestUpstream(pool, { ...post, signal: controller.signal }, { sent: false });
    const ended = answer.readBody((chunk) => {
      if (chunk.toString() === 'hello') controller.abort(new Error('client_aborted'));
      return true;
    });
    expect(((await ended) as Error).message).toBe('client_aborted');
  });

  it('rejects with the abort when the signal aborts before the answer', async () => {
    pool = new Pool(await upstream(() => undefined));
    const controller = new AbortController();
    const answered = requestUpstream(pool, { ...post, signal: controller.signal }, { sent: false });
    setImmediate(() => controller.abort(new Error('shutdown')));
    await expect(answered).rejects.toThrow('shutdown');
  });

  it('holds the upstream back while the sink says false, and lets it flow on resume()', async () => {
    const total = 32 * 2 ** 20;
    pool = new Pool(
      await upstream((s) => {
        s.write(head(`content-length: ${total}\r\n`));
        s.end(Buffer.alloc(total, 'x'));
      }),
    );
    const answer = await requestUpstream(pool, post, { sent: false });
    let received = 0;
    let holding = true;
    const ended = answer.readBody((chunk) => {
      received += chunk.length;
      return !holding;
    });
    // Held, the upstream's bytes wait in the sockets' buffers (a few MB at most), not in ours; not held, all of it
    // would arrive well within the wait.
    for (let i = 0; i < 40 && received < total; i++) await new Promise((r) => setTimeout(r, 50));
    expect(received).toBeLessThan(total / 4);
    holding = false;
    answer.resume();
    expect(await ended).toBeUndefined();
    expect(received).toBe(total);
  });

  it('rejects the body when the sink throws, and aborts the upstream', async () => {
    let upstreamClosed: Promise<unknown> | undefined;
    pool = new Pool(
      await upstream((s) => {
        upstreamClosed = new Promise((r) => s.on('close', r));
        s.write(`${head('transfer-encoding: chunked\r\n')}5\r\nhello\r\n`);
      }),
    );
    const answer = await requestUpstream(pool, post, { sent: false });
    await expect(
      answer.readBody(() => {
        throw new Error('relay bug');
      }),
    ).rejects.toThrow('relay bug');
    await upstreamClosed;
  });
});
