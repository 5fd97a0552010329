import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateQueries, type GeneratedHistory } from './generate-queries.js';
import { generatePostgresQueries } from './generate-queries-postgres.js';
import type { Server } from './processes.js';
import { startProxy } from './servers.js';
import { median } from './stats.js';
import { measureCsvExport, timeGroupedReads, type CsvExport, type GroupedReadName, type GroupedTiming } from './usage-views.js';

interface ReadTiming {
  path: string;
  medianMs: number;
  maxMs: number;
  /** Rows a /queries read returned, or the numQueries a /usage read summed. */
  count: number;
}

export interface HistoryResult {
  history: GeneratedHistory;
  reads: Record<'usageAll' | 'usageAfter' | 'usageUserRange' | 'queriesUserAfter', ReadTiming>;
  grouped: Record<GroupedReadName, GroupedTiming>;
  /** Every row as CSV, with the proxy's RSS watched; histories above CSV_EXPORT_MAX_ROWS are not exported. */
  csv?: CsvExport;
}

const CSV_EXPORT_MAX_ROWS = 1_000_000;

const TIMED_READS = 7;

async function timeRead(base: string, path: string): Promise<ReadTiming> {
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i <= TIMED_READS; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(base + path);
    const text = await res.text();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text);
    count = Array.isArray(body) ? body.length : body.numQueries;
    // The first read warms the page cache and the proxy's statements; it is not counted.
    if (i > 0) times.push(ms);
  }
  return { path, medianMs: median(times), maxMs: Math.max(...times), count };
}

const iso = (ms: number) => new Date(ms).toISOString();

interface ReadOptions {
  upstream: Server;
  cpus?: string;
  log: (line: string) => void;
}

/** Starts the proxy on `databaseUrl`, which holds `history`, and times /usage and /queries the way an admin would call them, with bounds at arbitrary milliseconds. */
async function timeReadsThroughProxy(history: GeneratedHistory, databaseUrl: string, workDir: string, opts: ReadOptions): Promise<HistoryResult> {
  const proxy = await startProxy({ upstream: opts.upstream, dbPath: databaseUrl, workDir, cpus: opts.cpus, name: 'history-proxy' });
  try {
    const base = `http://127.0.0.1:${proxy.server!.port}`;
    const span = history.endAt - history.start;
    const after = iso(history.start + Math.round(span * 0.37) + 12_345);
    const before = iso(history.start + Math.round(span * 0.81) + 678);
    const lastDay = iso(history.endAt - 86_400_000 + 777);
    return {
      history,
      reads: {
        usageAll: await timeRead(base, '/usage'),
        usageAfter: await timeRead(base, `/usage?after=${after}`),
        usageUserRange: await timeRead(base, `/usage?user=${history.users.busiest}&after=${after}&before=${before}`),
        queriesUserAfter: await timeRead(base, `/queries?user=${history.users.middle}&after=${lastDay}`),
      },
      grouped: await timeGroupedReads(base, history.endAt, after),
      csv: history.rows <= CSV_EXPORT_MAX_ROWS ? await measureCsvExport(base, proxy.server!.pid) : undefined,
    };
  } finally {
    await proxy.server!.stop();
  }
}

const HISTORY_SHAPE = { users: 200, days: 365 };

/** Generates `rows` queries into a temporary SQLite file and times the reads on it; the file is removed afterwards. */
export async function timeHistoryReads(rows: number, opts: ReadOptions): Promise<HistoryResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oap-bench-history-'));
  try {
    const dbPath = join(dir, 'history.db');
    opts.log(`generating ${rows.toLocaleString('en')} queries into ${dbPath}`);
    const history = await generateQueries(dbPath, { rows, ...HISTORY_SHAPE, endAt: Date.now() });
    opts.log(`  ${history.seconds.toFixed(1)} s, ${history.fileMb.toFixed(0)} MB`);
    return await timeReadsThroughProxy(history, dbPath, dir, opts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same history generated into the (empty) PostgreSQL database `url`, and the same reads through a proxy on it. */
export async function timePostgresHistoryReads(rows: number, url: string, opts: ReadOptions): Promise<HistoryResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oap-bench-pg-history-'));
  try {
    opts.log(`generating ${rows.toLocaleString('en')} queries into PostgreSQL`);
    const history = await generatePostgresQueries(url, { rows, ...HISTORY_SHAPE, endAt: Date.now() });
    opts.log(`  ${history.seconds.toFixed(1)} s, ${history.fileMb.toFixed(0)} MB`);
    return await timeReadsThroughProxy(history, url, dir, opts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
