import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { accessAdmin, ADMIN_TOKEN } from './support/access-admin.js';
import { adminClient } from './support/admin-client.js';
import { describeEachStore } from './support/each-store.js';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';
import { RealtimeStandIn } from './support/realtime-stand-in.js';

// 1,000 input tokens: 300 text (100 cached) and 700 audio (100 cached); 500 output: 100 text, 400 audio.
const USAGE = {
  total_tokens: 1500,
  input_tokens: 1000,
  output_tokens: 500,
  input_token_details: {
    text_tokens: 300,
    audio_tokens: 700,
    image_tokens: 0,
    cached_tokens: 200,
    cached_tokens_details: { text_tokens: 100, audio_tokens: 100, image_tokens: 0 },
  },
  output_token_details: { text_tokens: 100, audio_tokens: 400 },
};
// gpt-realtime per million: $4 text in, $0.40 cached, $32 audio in, $16 text out, $64 audio out.
const COST = (200 * 0.004 + 200 * 0.0004 + 600 * 0.032 + 100 * 0.016 + 400 * 0.064) / 1000;

let h: Harness;
let sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets) s.terminate();
  sockets = [];
  await h?.close();
});

/** A client connection whose text events are kept from the first one on: events can arrive with the handshake itself. */
interface Session {
  ws: WebSocket;
  next(type: string): Promise<Record<string, any>>;
}

function connect(headers: Record<string, string> = { 'x-user': 'ada' }, path = '/v1/realtime?model=gpt-realtime'): Promise<Session> {
  const ws = new WebSocket(`${h.url.replace(/^http/, 'ws')}${path}`, { headers });
  sockets.push(ws);
  const events: Record<string, any>[] = [];
  const waiting: { type: string; resolve: (e: Record<string, any>) => void }[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const event = JSON.parse(String(data));
    const i = waiting.findIndex((w) => w.type === event.type);
    if (i === -1) events.push(event);
    else waiting.splice(i, 1)[0].resolve(event);
  });
  const next = (type: string) =>
    new Promise<Record<string, any>>((resolve) => {
      const i = events.findIndex((e) => e.type === type);
      if (i === -1) waiting.push({ type, resolve });
      else resolve(events.splice(i, 1)[0]);
    });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, next }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describeEachStore('Realtime sessions', (store) => {
  const start = async () => {
    const upstream = new RealtimeStandIn();
    upstream.usage = USAGE;
    h = await startHarness([], { store, upstream });
    return upstream;
  };

  it('forwards the upgrade with the organisation’s key, and records each response.done of the session’s user', async () => {
    const upstream = await start();
    const { ws, next } = await connect();
    await next('session.created');
    expect(upstream.upgrades).toEqual([{ url: '/v1/realtime?model=gpt-realtime', authorization: `Bearer ${FORWARD_TOKEN}`, xUser: undefined }]);
    for (let i = 0; i < 2; i++) {
      ws.send(JSON.stringify({ type: 'response.create' }));
      const done = await next('response.done');
      expect(done.response.usage).toEqual(USAGE);
      // The event reaches the caller only once its query is recorded.
      expect(await adminClient(() => h.url).queries()).toHaveLength(i + 1);
    }
    const rows = await adminClient(() => h.url).queries();
    expect(rows[0]).toMatchObject({
      user: 'ada',
      endpoint: '/v1/realtime',
      model: 'gpt-realtime',
      queryTokens: 1000,
      cachedQueryTokens: 200,
      audioQueryTokens: 600,
      answerTokens: 500,
      audioAnswerTokens: 400,
      priced: true,
    });
    expect(rows[0].cost).toBeCloseTo(COST, 12);
    expect((await adminClient(() => h.url).usage()).cost).toBeCloseTo(2 * COST, 12);
  });

  it('relays binary frames both ways unchanged', async () => {
    await start();
    const { ws } = await connect();
    const frame = Buffer.alloc(48_000);
    for (let i = 0; i < frame.length; i++) frame[i] = (i * 7) % 256;
    const echoed = new Promise<Buffer>((resolve) => ws.on('message', (data, isBinary) => isBinary && resolve(data as Buffer)));
    ws.send(frame, { binary: true });
    expect((await echoed).equals(frame)).toBe(true);
  });

  it('keeps what a session cut off mid-response had reported', async () => {
    const upstream = await start();
    upstream.cutOffAt = 2;
    const { ws, next } = await connect();
    ws.send(JSON.stringify({ type: 'response.create' }));
    await next('response.done');
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.send(JSON.stringify({ type: 'response.create' }));
    await closed;
    const rows = await adminClient(() => h.url).queries();
    expect(rows).toHaveLength(1);
    expect(rows[0].cost).toBeCloseTo(COST, 12);
  });

  it('answers 502 when the upstream cannot be reached, recording nothing', async () => {
    const upstream = await start();
    await upstream.stop();
    await expect(connect()).rejects.toThrow('refused: 502');
    expect(await adminClient(() => h.url).queries('?status=all')).toEqual([]);
  });

  it('refuses an upgrade without x-user, with a JSON error, and never opens the upstream', async () => {
    const upstream = await start();
    await expect(connect({})).rejects.toThrow('refused: 401');
    expect(upstream.upgrades).toEqual([]);
  });

  it('takes a key of the proxy where auth.callers asks for keys: the session is its user’s, its queries carry the key', async () => {
    const upstream = new RealtimeStandIn();
    upstream.usage = USAGE;
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store, upstream });
    const admin = accessAdmin(() => h.url);
    const { id, key } = await admin.createKey({ user: 'grace' });

    // x-user alone, or a key the proxy never made, opens nothing upstream.
    await expect(connect({ 'x-user': 'grace' })).rejects.toThrow('refused: 401');
    await expect(connect({ authorization: `Bearer oap-${'x'.repeat(43)}` })).rejects.toThrow('refused: 401');
    expect(upstream.upgrades).toEqual([]);

    const { ws, next } = await connect({ authorization: `Bearer ${key}` });
    await next('session.created');
    // The caller's key stays here: the upstream sees the organisation's.
    expect(upstream.upgrades).toEqual([{ url: '/v1/realtime?model=gpt-realtime', authorization: `Bearer ${FORWARD_TOKEN}`, xUser: undefined }]);
    ws.send(JSON.stringify({ type: 'response.create' }));
    await next('response.done');
    const rows = await admin.ok('GET', '/queries');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user: 'grace', key: id, endpoint: '/v1/realtime', queryTokens: 1000, answerTokens: 500 });
    expect(rows[0].cost).toBeCloseTo(COST, 12);
    expect((await admin.ok('GET', `/usage?key=${id}`)).cost).toBeCloseTo(COST, 12);
  });
});
