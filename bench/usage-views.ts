import { rssDuring } from './processes.js';
import { median } from './stats.js';

/** The dashboard's reads: grouped /usage the way the page asks for it, and a CSV export of every row. */
export interface GroupedTiming {
  path: string;
  medianMs: number;
  maxMs: number;
  groups: number;
}

export interface CsvExport {
  rows: number;
  seconds: number;
  megabytes: number;
  beforeMb: number;
  peakMb: number;
  /** Peak RSS during the export minus RSS before it. */
  growthMb: number;
}

const TIMED_READS = 5;

async function timeGrouped(base: string, path: string): Promise<GroupedTiming> {
  const times: number[] = [];
  let groups = 0;
  for (let i = 0; i <= TIMED_READS; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(base + path);
    const text = await res.text();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    groups = JSON.parse(text).groups.length;
    // The first read warms the page cache; it is not counted.
    if (i > 0) times.push(ms);
  }
  return { path, medianMs: median(times), maxMs: Math.max(...times), groups };
}

export type GroupedReadName = 'byModel' | 'byUser' | 'byDayUtc' | 'byDayBerlin' | 'byDayModelAfter' | 'byDayUserLast30Days' | 'byHourLast7Days';

/** Grouped reads over the whole history, as the dashboard and an API user make them. */
export async function timeGroupedReads(base: string, endAt: number, after: string): Promise<Record<GroupedReadName, GroupedTiming>> {
  const daysBefore = (n: number) => new Date(endAt - n * 86_400_000 + 777).toISOString();
  return {
    byModel: await timeGrouped(base, '/usage?groupBy=model'),
    byUser: await timeGrouped(base, '/usage?groupBy=user'),
    byDayUtc: await timeGrouped(base, '/usage?groupBy=day'),
    byDayBerlin: await timeGrouped(base, '/usage?groupBy=day&tz=Europe/Berlin'),
    byDayModelAfter: await timeGrouped(base, `/usage?groupBy=day,model&after=${after}`),
    byDayUserLast30Days: await timeGrouped(base, `/usage?groupBy=day,user&after=${daysBefore(30)}`),
    byHourLast7Days: await timeGrouped(base, `/usage?groupBy=hour&after=${daysBefore(7)}`),
  };
}

/** Downloads /queries.csv (every row) from the proxy with pid `pid`, read as fast as it comes, while its RSS is sampled. */
export async function measureCsvExport(base: string, pid: number): Promise<CsvExport> {
  const started = process.hrtime.bigint();
  const download = (async () => {
    const res = await fetch(`${base}/queries.csv?status=all`);
    if (!res.ok || !res.body) throw new Error(`GET /queries.csv answered ${res.status}`);
    let lines = 0;
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
    }
    return { rows: lines - 1, bytes };
  })();
  const measured = await rssDuring(pid, download);
  return {
    rows: measured.result.rows,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    megabytes: measured.result.bytes / 1024 ** 2,
    beforeMb: measured.beforeMb,
    peakMb: measured.peakMb,
    growthMb: measured.peakMb - measured.beforeMb,
  };
}
