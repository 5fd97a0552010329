import { createServer, type Server } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { requestUpstream } from '../../src/proxy/upstream-request.js';

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
    expect(await answer.body.text()).toBe('{}');
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
