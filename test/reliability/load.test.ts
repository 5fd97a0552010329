import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtProxyMain } from '../support/built-proxy.js';
import { startChildProxy, type ChildProxy } from '../support/child-proxy.js';
import { numberedAnswers, numberedCall, UpstreamCalls, usageOf, userOf, type CallResult } from '../support/numbered-calls.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

const STREAMS_PER_WAVE = 300;
const PLAIN_PER_WAVE = 300;
const WAVES = 2;
const RSS_LIMIT = 256 * 2 ** 20;

let dir: string;
let upstream: UpstreamStandIn;
let proxy: ChildProxy;
const calls = new UpstreamCalls();

describe.skipIf(!process.env.OAP_LONG_TESTS)('bounded load (runs the built proxy)', () => {
  // Compiling the proxy (once per version of the sources) can take a while on a busy machine.
  beforeAll(() => void builtProxyMain(), 120_000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-load-'));
    upstream = new UpstreamStandIn();
    upstream.behaviour = { kind: 'custom', handle: numberedAnswers({ streamEvents: 20, eventGapMs: 25, plainDelayMs: 50 }, calls) };
    const upstreamUrl = await upstream.start();
    proxy = await startChildProxy([`--forward.url=${upstreamUrl}`, `--database.url=${join(dir, 'queries.db')}`], { cwd: dir });
  });
  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await proxy?.exited;
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`answers and records ${WAVES} waves of ${STREAMS_PER_WAVE} concurrent streams and ${PLAIN_PER_WAVE} plain calls, under 256 MB`, async () => {
    const idlePeakRss = proxy.peakRssBytes();
    const started = Date.now();
    const cpuBefore = proxy.cpuMs();
    const results: CallResult[] = [];
    let peakConcurrent = 0;
    for (let wave = 0; wave < WAVES; wave++) {
      const base = wave * (STREAMS_PER_WAVE + PLAIN_PER_WAVE);
      const pending = Array.from({ length: STREAMS_PER_WAVE + PLAIN_PER_WAVE }, (_, i) => numberedCall(proxy.url, base + i, i < STREAMS_PER_WAVE));
      const watch = setInterval(() => (peakConcurrent = Math.max(peakConcurrent, calls.active)), 5);
      results.push(...(await Promise.all(pending)));
      clearInterval(watch);
    }
    const seconds = (Date.now() - started) / 1000;
    const cpuMs = proxy.cpuMs() - cpuBefore;

    const failed = results.filter((r) => !r.completed);
    expect(failed.map((r) => `${userOf(r.n)}: ${r.status}`)).toEqual([]);

    const rows = (await (await fetch(`${proxy.url}/queries?status=all`)).json()) as {
      user: string;
      queryTokens: number;
      answerTokens: number;
      streamed: boolean;
      estimated: boolean;
    }[];
    expect(rows).toHaveLength(results.length);
    const byUser = new Map(rows.map((r) => [r.user, r]));
    for (const r of results) {
      const row = byUser.get(userOf(r.n));
      expect(row && [row.queryTokens, row.answerTokens, row.streamed, row.estimated], userOf(r.n)).toEqual([
        usageOf(r.n).prompt_tokens,
        usageOf(r.n).completion_tokens,
        r.streamed,
        false,
      ]);
    }

    const peakRss = proxy.peakRssBytes();
    console.log(
      `load: ${results.length} calls (${WAVES} waves of ${STREAMS_PER_WAVE} streams + ${PLAIN_PER_WAVE} plain), ` +
        `up to ${peakConcurrent} answered upstream at once, ${seconds.toFixed(1)} s; proxy peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB (${(idlePeakRss / 2 ** 20).toFixed(1)} MiB after start-up), ` +
        `proxy CPU ${(cpuMs / results.length).toFixed(2)} ms per call`,
    );
    expect(peakRss).toBeLessThan(RSS_LIMIT);
  }, 60_000);
});
