import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timePostgresHistoryReads, type HistoryResult } from './history-reads.js';
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
  return { sequential, concurrent, history };
}
