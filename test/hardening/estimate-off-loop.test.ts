import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

let dir: string;
let upstream: UpstreamStandIn;
let proxy: ChildProxy;

async function healthLatencyMs(): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${proxy.url}/health`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return performance.now() - started;
}

/** Sends a call and gives up on it after `afterMs`, as `curl -m1` does. */
function abandonedCall(body: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'impatient' },
      agent: false,
    });
    req.on('error', () => resolve());
    req.end(body);
    setTimeout(() => {
      req.destroy();
      resolve();
    }, afterMs);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('counting a prompt never stalls other calls (runs the built proxy)', () => {
  beforeAll(async () => {
    // Compiling the proxy (once per version of the sources) can take a while on a busy machine.
    builtProxyMain();
    dir = mkdtempSync(join(tmpdir(), 'oap-estimate-'));
    upstream = new UpstreamStandIn();
    upstream.behaviour = { kind: 'hang' };
    const upstreamUrl = await upstream.start();
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${join(dir, 'queries.db')}`], { cwd: dir });
  }, 120_000);
  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await proxy?.exited;
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps /health as quick as when idle while a 128 KB prompt without spaces is counted', { timeout: 60_000 }, async () => {
    const idle: number[] = [];
    for (let i = 0; i < 10; i++) idle.push(await healthLatencyMs());

    const prompt = 'a'.repeat(128 * 1024);
    await abandonedCall(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] }), 300);
    const during: number[] = [];
    // Until the call is recorded (its count done), and for at least three seconds.
    const until = Date.now() + 3_000;
    let rows: Record<string, any>[] = [];
    while (Date.now() < until || (rows.length === 0 && Date.now() < until + 20_000)) {
      during.push(await healthLatencyMs());
      if (rows.length === 0) rows = (await (await fetch(`${proxy.url}/queries?status=all`)).json()) as Record<string, any>[];
    }
    const bound = Math.max(20 * median(idle), 250);
    console.log(`/health while counting: worst ${Math.max(...during).toFixed(1)} ms, idle median ${median(idle).toFixed(1)} ms (bound ${bound.toFixed(0)} ms)`);
    expect(Math.max(...during), `idle median ${median(idle).toFixed(1)} ms; while counting: ${during.map((d) => d.toFixed(0)).join(' ')}`).toBeLessThan(bound);

    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user: 'impatient', outcome: 'client_aborted', estimated: true });
    // 128 Ki of one letter is 16 Ki tokens of eight letters, plus the message framing.
    expect(rows[0].queryTokens).toBeGreaterThanOrEqual(16_384);
    expect(rows[0].queryTokens).toBeLessThan(16_500);
  });
});
