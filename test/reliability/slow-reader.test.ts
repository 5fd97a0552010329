import { request } from 'node:http';
import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders } from '../support/raw-call.js';
import { chunkEvent } from '../support/sse-events.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** An endless stream that writes only as fast as the proxy takes it, counting what it got out. */
function endlessStream(progress: { written: number; closed: boolean }) {
  return (_req: unknown, _body: Buffer, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = Buffer.from(chunkEvent('word '.repeat(200)));
    res.on('close', () => (progress.closed = true));
    const pump = () => {
      while (!progress.closed) {
        progress.written += event.length;
        if (!res.write(event)) return void res.once('drain', pump);
      }
    };
    pump();
  };
}

/** The value once it stopped changing for half a second (or after 5 s, when it never does). */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  for (let still = 0, rounds = 0; still < 5 && rounds < 50; rounds++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = read();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

it('a slow reader makes the upstream wait instead of the proxy buffering its stream', async () => {
  h = await startHarness();
  const upstream = { written: 0, closed: false };
  h.upstream.behaviour = { kind: 'custom', handle: endlessStream(upstream) };

  let received = 0;
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request(`${h.url}/v1/chat/completions`, { method: 'POST', headers: jsonHeaders('slow') }, resolve);
    req.on('error', reject);
    req.end(chatBody({ stream: true }));
  });
  res.on('data', (c: Buffer) => (received += c.length));
  res.on('error', () => undefined);
  await new Promise((r) => res.once('data', r));
  res.pause();

  // Nobody reads: once every buffer on the way is full the upstream can write no more.
  const writtenWhilePaused = await settled(() => upstream.written);
  const inFlight = writtenWhilePaused - received;
  console.log(
    `slow reader: upstream wrote ${(writtenWhilePaused / 2 ** 20).toFixed(1)} MiB, client read ${(received / 2 ** 20).toFixed(1)} MiB, ${(inFlight / 2 ** 20).toFixed(1)} MiB between them`,
  );
  expect(upstream.closed).toBe(false);
  expect(inFlight).toBeLessThan(32 * 2 ** 20);

  // Reading a little lets the upstream write a little more: the pressure travels both ways.
  res.resume();
  await new Promise((r) => setTimeout(r, 200));
  res.pause();
  const afterSomeReading = await settled(() => upstream.written);
  expect(afterSomeReading).toBeGreaterThan(writtenWhilePaused);
  expect(afterSomeReading - received).toBeLessThan(32 * 2 ** 20);

  // The reader leaves: the proxy stops the upstream call and records what was used.
  res.destroy();
  for (let i = 0; i < 100 && !upstream.closed; i++) await new Promise((r) => setTimeout(r, 20));
  expect(upstream.closed).toBe(true);
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 100 && rows.length === 0; i++) {
    rows = (await (await fetch(`${h.url}/queries?status=all`)).json()) as Record<string, unknown>[];
    if (rows.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  expect(rows[0]).toMatchObject({ user: 'slow', outcome: 'client_aborted', estimated: true, streamed: true });
});
