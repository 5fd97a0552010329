import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timePostgresHistoryReads, type HistoryResult } from './history-reads.js';
import { measureReplay, measureRepriceStall, type ReplayResult, type RepriceStallResult } from './postgres-faults.js';
import { createBenchDatabase, postgresUnreachable, type BenchDatabase } from './postgres-database.js';
import { runToCompletion, type Server } from './processes.js';

const RECORD_SCRIPT = join(fileURLToPath(new URL('.', import.meta.url)), 'record-throughput.js');

interface RecordingResult {
  rows: number;
  seconds: number;
  concurrency: number;
  rowsPerSecond: number;
  cpuUsPerRow: number;
}

export interface PostgresResult {
  /** Why the PostgreSQL rows were not measured. */
  skipped?: string;
  sequential?: RecordingResult;
  concurrent?: RecordingResult;
  history?: HistoryResult;
  replay?: ReplayResult;
  repriceStall?: RepriceStallResult;
}

/** Runs `work` on a fresh database, dropped afterwards whatever happens. */
async function onFreshDatabase<T>(work: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const db = await createBenchDatabase();
  try {
    return await work(db);
  } finally {
    await db.drop();
  }
}

/**
 * The PostgreSQL rows: recording throughput one call after another and with
 * `concurrency` calls in flight, then the /usage reads over a generated history,
 * each on its own temporary database. Unreachable PostgreSQL skips them all.
 */
export async function measurePostgres(opts: {
  recordSeconds: number;
  concurrency: number;
  historyRows: number;
  replayRows: number;
  repriceRows: number;
  upstream: Server;
  cpus?: string;
  log: (line: string) => void;
}): Promise<PostgresResult> {
  const unreachable = await postgresUnreachable();
  if (unreachable) {
    opts.log(`PostgreSQL rows skipped: ${unreachable}`);
    return { skipped: unreachable };
  }
  const record = (concurrency: number) =>
    onFreshDatabase(
      async (db) =>
        JSON.parse(
          await runToCompletion(process.execPath, [RECORD_SCRIPT, db.url, String(opts.recordSeconds), String(concurrency)], { cpus: opts.cpus }),
        ) as RecordingResult,
    );
  opts.log(`recording throughput: ${opts.recordSeconds} s of inserts through the PostgreSQL store, one call after another`);
  const sequential = await record(1);
  opts.log(`recording throughput: ${opts.recordSeconds} s of inserts through the PostgreSQL store, ${opts.concurrency} calls at once`);
  const concurrent = await record(opts.concurrency);
  const history = await onFreshDatabase((db) => timePostgresHistoryReads(opts.historyRows, db.url, opts));
  opts.log(`journal replay: ${opts.replayRows} journaled calls into PostgreSQL, ${opts.concurrency} callers recording meanwhile`);
  const replay = await onFreshDatabase((db) => measureReplay(db.url, { rows: opts.replayRows, concurrency: opts.concurrency }));
  opts.log(`re-pricing ${opts.repriceRows} rows of one model while calls of that model are recorded`);
  const repriceStall = await onFreshDatabase((db) => measureRepriceStall(db.url, { rows: opts.repriceRows }));
  return { sequential, concurrent, history, replay, repriceStall };
}
