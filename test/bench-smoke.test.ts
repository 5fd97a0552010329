import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..');

/**
 * `npm run bench` in its tiny form: every phase runs (build, stand-in, proxy
 * process, load generator, streaming, the big answer, recording, generated
 * histories) on sizes too small to mean anything. No figure is judged here:
 * speed is for the bench itself, not for `npm test`.
 */
describe.skipIf(!process.env.OAP_LONG_TESTS)('npm run bench (smoke, tiny sizes)', () => {
  let out: string;
  beforeAll(() => void (out = mkdtempSync(join(tmpdir(), 'oap-bench-smoke-'))));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every figure and writes a markdown table and a JSON file', async () => {
    const { stdout } = await run('npm', ['run', 'bench', '--', '--tiny', `--out=${out}`], {
      cwd: repoRoot,
      timeout: 540_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toContain('| Figure | Proxy | Direct | Portkey | Target | Met | Spread |');
    const jsonFile = readdirSync(out).find((f) => f.endsWith('-tiny.json'));
    expect(jsonFile).toBeDefined();
    const report = JSON.parse(readFileSync(join(out, jsonFile!), 'utf8'));
    const figure = (start: string) => report.rows.find((r: { figure: string }) => r.figure.startsWith(start));

    for (const name of ['Throughput proxied / direct, 1', 'Throughput proxied / direct, 32', 'Calls/s, 32', 'CPU per call, 32', 'Peak RSS']) {
      expect(figure(name)?.proxy, name).toBeGreaterThan(0);
    }
    expect(figure('Calls/s, 32').direct).toBeGreaterThan(0);
    expect(Number.isFinite(figure('Added latency p50').proxy)).toBe(true);
    expect(Number.isFinite(figure('Streaming: added time to first byte').proxy)).toBe(true);
    expect(figure('RSS growth over a 2 MB streamed answer')?.note).not.toContain('FAILED');
    expect(figure('Recording throughput').proxy).toBeGreaterThan(0);
    // Access control: the cost of being checked, and a budget under 64 calls at once (overshoot in calls).
    expect(figure('Throughput with a key, a budget and a rate limit')?.proxy).toBeGreaterThan(0);
    const sqliteOvershoot = figure('Budget overshoot, 64 calls at once through two instances (SQLite)');
    expect(sqliteOvershoot?.proxy).toBeLessThanOrEqual(1);
    expect(report.raw.access.sqlite.answered).toBeGreaterThan(0);
    // Every proxied call that was answered was recorded.
    const proxiedCalls = ['tp32', 'tp1'].flatMap((k) => report.raw[k].proxy).reduce((s: number, r: { calls: number }) => s + r.calls, 0);
    expect(report.raw.recordedRows).toBeGreaterThanOrEqual(proxiedCalls);
    expect(report.history.map((h: { history: { rows: number } }) => h.history.rows)).toEqual([2000, 5000]);
    for (const h of report.history) {
      expect(h.reads.usageAll.count).toBeGreaterThan(0);
      expect(h.reads.usageAll.medianMs).toBeGreaterThan(0);
      expect(h.grouped.byDayUserLast30Days.groups).toBeGreaterThan(0);
      // The whole history comes out as CSV, one line per recorded query.
      expect(h.csv.rows).toBe(h.history.rows);
    }
    expect(figure('Throughput metrics on / off, 32 connections')?.proxy).toBeGreaterThan(0);
    expect(figure('Metrics: CPU per call counted')?.proxy).toBeGreaterThan(0);
    expect(figure('/usage?groupBy=day&tz=Europe/Berlin over 5k')?.proxy).toBeGreaterThan(0);

    // PostgreSQL: measured, or skipped with its reason in one line (never skipped where CI requires PostgreSQL).
    if (report.postgres.skipped && !process.env.OAP_REQUIRE_POSTGRES) {
      console.log(`bench smoke: ${report.postgres.skipped}`);
      expect(stdout).toContain(`PostgreSQL rows skipped: ${report.postgres.skipped}`);
    } else {
      expect(report.postgres.skipped).toBeUndefined();
      expect(figure('Recording throughput (PostgreSQL store, one call after another)')?.proxy).toBeGreaterThan(0);
      expect(figure('Recording throughput (PostgreSQL store, 16 calls at once)')?.proxy).toBeGreaterThan(0);
      // The same generated history as SQLite's 2k: the same queries match the same bounds.
      const sqlite2k = report.history.find((h: { history: { rows: number } }) => h.history.rows === 2000);
      expect(report.postgres.history.history.rows).toBe(2000);
      expect(report.postgres.history.reads.usageAll.count).toBe(sqlite2k.reads.usageAll.count);
      expect(report.postgres.history.reads.usageAfter.count).toBe(sqlite2k.reads.usageAfter.count);
      expect(figure('/usage over 2k queries (PostgreSQL)')?.proxy).toBeGreaterThan(0);
      expect(figure('/usage?after=… over 2k queries (PostgreSQL)')?.proxy).toBeGreaterThan(0);
      expect(figure('Budget overshoot, 64 calls at once through two instances (PostgreSQL)')?.proxy).toBeLessThanOrEqual(1);
    }
  }, 600_000);
});
