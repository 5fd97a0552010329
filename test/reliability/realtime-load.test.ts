import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { RealtimeStandIn } from '../support/realtime-stand-in.js';

const SESSIONS = 50;
const FRAMES_PER_SESSION = 100;
// Half a second of 24 kHz 16-bit mono PCM: what a Realtime client sends as audio.
const FRAME_BYTES = 24_000;
const RSS_LIMIT = 256 * 2 ** 20;

let dir: string;
let upstream: RealtimeStandIn;
let proxy: ChildProxy;

describe.skipIf(!process.env.OAP_LONG_TESTS)('Realtime sessions under load (runs the built proxy)', () => {
  beforeAll(() => void builtProxyMain(), 120_000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-realtime-load-'));
    upstream = new RealtimeStandIn();
    upstream.usage = {
      total_tokens: 30,
      input_tokens: 20,
      output_tokens: 10,
      input_token_details: { audio_tokens: 20 },
      output_token_details: { audio_tokens: 10 },
    };
    const upstreamUrl = await upstream.start();
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, '--forward.token=sk-load', `--database.url=${join(dir, 'queries.db')}`], { cwd: dir });
  });
  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await proxy?.exited;
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`relays ${SESSIONS} concurrent sessions of ${FRAMES_PER_SESSION} audio frames unchanged and records each, under 256 MB`, async () => {
    const idlePeakRss = proxy.peakRssBytes();
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(i)));
    expect(sessions.filter((s) => s.sent !== s.echoed)).toEqual([]);
    const rows = (await (await fetch(`${proxy.url}/queries?endpoint=/v1/realtime`)).json()) as { user: string; audioQueryTokens: number }[];
    expect(new Set(rows.map((r) => r.user)).size).toBe(SESSIONS);
    expect(rows.every((r) => r.audioQueryTokens === 20)).toBe(true);
    const peakRss = proxy.peakRssBytes();
    console.log(
      `realtime load: ${SESSIONS} sessions x ${FRAMES_PER_SESSION} frames of ${FRAME_BYTES} bytes, both ways; ` +
        `proxy peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB (${(idlePeakRss / 2 ** 20).toFixed(1)} MiB after start-up)`,
    );
    expect(peakRss).toBeLessThan(RSS_LIMIT);
  }, 180_000);
});

/** One session: every frame sent and echoed back is hashed in order, then one response is asked for and awaited. */
async function session(i: number): Promise<{ sent: string; echoed: string }> {
  const ws = new WebSocket(`${proxy.url.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime`, { headers: { 'x-user': `caller-${i}` } });
  const sent = createHash('sha256');
  const echoed = createHash('sha256');
  let echoes = 0;
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        echoed.update(data as Buffer);
        if (++echoes === FRAMES_PER_SESSION) ws.send(JSON.stringify({ type: 'response.create' }));
      } else if (JSON.parse(String(data)).type === 'response.done') resolve();
    });
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  for (let f = 0; f < FRAMES_PER_SESSION; f++) {
    const frame = Buffer.alloc(FRAME_BYTES, (i * 31 + f) % 256);
    sent.update(frame);
    ws.send(frame, { binary: true });
  }
  await done;
  ws.close();
  return { sent: sent.digest('hex'), echoed: echoed.digest('hex') };
}
