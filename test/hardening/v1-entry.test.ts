import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/proxy-harness.js';

/**
 * /v1 calls come in two ways: straight from node:http (server/v1-entry.ts), or, for targets Fastify's router
 * decides itself (a percent-escape in the path, say), through Fastify's '/v1/*' route. The caller must not see which.
 */
const DIRECT = '/v1/models';
const THROUGH_FASTIFY = '/v1/%6Dodels';

/** Everything the socket received until the proxy closed it, or until `ms` passed. */
function collect(socket: Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => finish(), ms);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', finish);
  });
}

const opened = (h: Harness) =>
  new Promise<Socket>((resolve) => {
    const socket = connect(Number(new URL(h.url).port), '127.0.0.1', () => resolve(socket));
  });

/** The answer without its Date header, which differs by when it was sent. */
const undated = (reply: string) => reply.replace(/^date: .*\r\n/gim, '');

describe('a /v1 call answers alike whichever way it came in', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(['--server.body-limit=1kb']);
  });
  afterAll(async () => {
    await h.close();
  });

  const send = async (target: string, rest: string) => {
    const socket = await opened(h);
    socket.write(`POST ${target} HTTP/1.1\r\nhost: x\r\nx-user: ways\r\n${rest}`);
    return undated(await collect(socket));
  };

  it.each([
    ['no content-type with a body', 'content-length: 2\r\nconnection: close\r\n\r\n{}'],
    ['a content-type that is no media type', 'content-type: json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'],
    ['an empty JSON body', 'content-type: application/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'],
    ['a JSON body over the limit', `content-type: application/json\r\ncontent-length: 2000\r\nconnection: close\r\n\r\n{"x":"${'x'.repeat(1992)}"}`],
    [
      'a chunked JSON body over the limit',
      `content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n7d0\r\n{"x":"${'x'.repeat(1992)}"}\r\n0\r\n\r\n`,
    ],
    ['a vendor JSON type', 'content-type: Application/Vnd.Thing+JSON; charset=utf-8\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{"model":"gpt-4o"}'],
  ])('with %s', async (_what, rest) => {
    const direct = await send(DIRECT, rest);
    expect(direct).toMatch(/^HTTP\/1\.1 [2-5]\d\d /);
    expect(await send(THROUGH_FASTIFY, rest)).toBe(direct);
  });

  it('closes the connection after a body it refused unread, as the caller may still be sending', async () => {
    for (const target of [DIRECT, THROUGH_FASTIFY]) {
      const socket = await opened(h);
      // Keep-alive, and a second request behind the first: it must not be read as part of the refused body's connection.
      socket.write(`POST ${target} HTTP/1.1\r\nhost: x\r\nx-user: ways\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n`);
      const reply = await collect(socket);
      expect(reply).toMatch(/^HTTP\/1\.1 413 /);
      expect(reply).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error).toMatchObject({ code: 'body_too_large' });
    }
  });
});

describe('a request arriving while the proxy stops', () => {
  it.each([
    ['a direct /v1 call', DIRECT],
    ['a /v1 call through Fastify', THROUGH_FASTIFY],
    ['an admin route', '/health'],
  ])('is refused with 503 and the connection closed: %s', async (_what, target) => {
    const h = await startHarness(['--server.shutdown-grace=1s']);
    h.upstream.behaviour = { kind: 'hang' };
    const socket = await opened(h);
    const received = collect(socket, 10_000);
    // A call in flight keeps the shutdown waiting and this connection busy, so it is not closed as idle.
    socket.write(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-user: held\r\n\r\n`);
    await expect.poll(() => h.upstream.received.length).toBe(1);
    const stopping = h.proxy.stop();
    // The listener closes once Fastify has begun closing; the busy connection stays open.
    await expect.poll(() => h.proxy.app.fastify.server.listening).toBe(false);
    socket.write(`GET ${target} HTTP/1.1\r\nhost: x\r\nx-user: late\r\n\r\n`);
    const reply = undated(await received);
    await stopping;
    await h.close();
    expect(reply).toContain(
      'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}',
    );
    // Only the call that was already in flight reached the upstream.
    expect(h.upstream.received.length).toBe(1);
  });
});
