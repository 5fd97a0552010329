import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { startProxy, type RunningProxy } from '../src/server/start-proxy.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { gatedStore } from './support/gated-store.js';
import { UpstreamStandIn } from './support/upstream-stand-in.js';

let proxy: RunningProxy | undefined;
let upstream: UpstreamStandIn | undefined;
afterEach(async () => {
  await proxy?.stop();
  await upstream?.stop();
  proxy = upstream = undefined;
});

async function start(flags: string[] = [], wrap?: (s: Awaited<ReturnType<typeof openSqliteStore>>) => any) {
  upstream = new UpstreamStandIn();
  const upstreamUrl = await upstream.start();
  const dir = mkdtempSync(join(tmpdir(), 'oap-dur-'));
  const { config } = loadConfig({ cwd: dir, env: {}, argv: [`--forward.url=${upstreamUrl}`, '--server.port=0', '--forward.token=t', ...flags] });
  const sqlite = await openSqliteStore({ path: join(dir, 'q.db') });
  const store = wrap ? wrap(sqlite) : sqlite;
  proxy = await startProxy(config, pino({ level: 'silent' }), { store });
  return proxy;
}

const body = (stream: boolean) => JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'hi' }] });

/** Reads what arrives until the stream goes quiet; the read still pending is kept for the next call. */
function quietReader(stream: AsyncIterator<Buffer>) {
  let pending: Promise<IteratorResult<Buffer>> | undefined;
  return {
    async untilQuiet(quietMs: number): Promise<string> {
      let text = '';
      for (;;) {
        pending ??= stream.next();
        const next = await Promise.race([pending, new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), quietMs))]);
        if (next === 'quiet') return text;
        pending = undefined;
        if (next.done) return text;
        text += next.value.toString();
      }
    },
    async rest(): Promise<string> {
      let text = '';
      for (;;) {
        const next = await (pending ?? stream.next());
        pending = undefined;
        if (next.done) return text;
        text += next.value.toString();
      }
    },
  };
}

describe('commit before the last bytes', () => {
  it('holds [DONE] back until the query is committed', async () => {
    let gate!: ReturnType<typeof gatedStore>;
    const p = await start([], (s) => (gate = gatedStore(s)).store);
    const res = await request(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'a' },
      body: body(true),
    });
    const reader = quietReader(res.body[Symbol.asyncIterator]());
    const before = await reader.untilQuiet(300);
    expect(gate.waiting).toBe(1);
    expect(before).toContain('stand');
    expect(before).not.toContain('[DONE]');
    gate.open();
    expect((await reader.rest()).trim()).toBe('data: [DONE]');
  });

  it("holds a plain answer's last bytes back until the query is committed", async () => {
    let gate!: ReturnType<typeof gatedStore>;
    const p = await start([], (s) => (gate = gatedStore(s)).store);
    let complete = false;
    const answer = request(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'a' },
      body: body(false),
    })
      .then((res) => res.body.text())
      .then((text) => {
        complete = true;
        return text;
      });
    await expect.poll(() => gate.waiting).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(complete).toBe(false);
    gate.open();
    expect(JSON.parse(await answer).usage.prompt_tokens).toBe(12);
  });
});

describe('shutdown', () => {
  it('lets a call in flight finish within the grace period and refuses new ones', async () => {
    const p = await start(['--server.shutdown-grace=5s']);
    let release!: () => void;
    upstream!.behaviour = {
      kind: 'custom',
      handle: (_req, _b, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ model: 'gpt-4o', choices: [{ index: 0, delta: { content: 'one' } }] })}\n\n`);
        release = () => {
          res.write(`data: ${JSON.stringify({ model: 'gpt-4o', choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } })}\n\n`);
          res.end('data: [DONE]\n\n');
        };
      },
    };
    const res = await request(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'a' },
      body: body(true),
    });
    const text = res.body.text();
    await new Promise((r) => setTimeout(r, 100));
    const stopped = p.stop();
    await new Promise((r) => setTimeout(r, 100));
    await expect(fetch(`${p.url}/usage`)).rejects.toThrow();
    release();
    expect(await text).toContain('[DONE]');
    await stopped;
  });

  it('breaks off what is left after the grace period and records it as estimated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oap-dur-'));
    const dbPath = join(dir, 'q.db');
    upstream = new UpstreamStandIn();
    const upstreamUrl = await upstream.start();
    upstream.behaviour = { kind: 'headers-then-stall' };
    const { config } = loadConfig({
      cwd: dir,
      env: {},
      argv: [`--forward.url=${upstreamUrl}`, '--server.port=0', `--database.url=${dbPath}`, '--server.shutdown-grace=200ms'],
    });
    const p = await startProxy(config, pino({ level: 'silent' }));
    const res = await request(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'a' },
      body: body(true),
    });
    // Settled at once, so the break-off cannot surface as an unhandled rejection before it is asserted.
    const outcome = res.body.text().then(
      () => 'completed',
      (err: Error) => err,
    );
    await new Promise((r) => setTimeout(r, 100));
    await p.stop();
    expect(await outcome).toBeInstanceOf(Error);
    const store = await openSqliteStore({ path: dbPath });
    const rows = [];
    for await (const batch of store.queries({ status: 'all' }, {})) rows.push(...batch);
    await store.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'shutdown', estimated: true });
  });
});
