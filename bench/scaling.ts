import { join } from 'node:path';
import { throughput, type ThroughputRun } from './measure.js';
import { createBenchDatabase, postgresUnreachable, type BenchDatabase } from './postgres-database.js';
import { treePeakMb, type Server } from './processes.js';
import { putPrice, startProxy, type Target } from './servers.js';
import { alternate, type PerTarget } from './stats.js';

export interface ScalingResult {
  /** 32-connection runs per setup: sqlite-1w, sqlite-2w, postgres-1w, postgres-2w. */
  runs: PerTarget<ThroughputRun>;
  /** Peak RSS of each setup's processes (primary and workers, each one's peak, summed), in MB. */
  peakMb: Record<string, number>;
  postgresSkipped?: string;
}

/**
 * The same 32-connection load through four proxies alternating round by
 * round: SQLite and PostgreSQL, each with one process and with two workers
 * (server.workers=2). Their ratios (PostgreSQL / SQLite, 2 workers / 1) come
 * from the same rounds on the same machine. Each PostgreSQL proxy records into
 * its own fresh database, dropped afterwards.
 */
export async function measureScaling(opts: {
  upstream: Server;
  workDir: string;
  rounds: number;
  seconds: number;
  poolSize: number;
  serverCpus?: string;
  clientCpus?: string;
  log: (line: string) => void;
}): Promise<ScalingResult> {
  const targets: Target[] = [];
  const databases: BenchDatabase[] = [];
  const start = async (name: string, dbPath: string, workers: number) => {
    const target = await startProxy({
      upstream: opts.upstream,
      dbPath,
      workDir: opts.workDir,
      cpus: opts.serverCpus,
      name,
      proxyFlags: [`--server.workers=${workers}`, `--database.pool-size=${opts.poolSize}`],
    });
    targets.push(target);
    await putPrice(target, 'gpt-4o-mini', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006 });
  };
  try {
    await start('sqlite-1w', join(opts.workDir, 'scaling-1.db'), 1);
    await start('sqlite-2w', join(opts.workDir, 'scaling-2.db'), 2);
    const postgresSkipped = await postgresUnreachable();
    if (postgresSkipped) opts.log(`PostgreSQL scaling rows skipped: ${postgresSkipped}`);
    else {
      for (const workers of [1, 2]) {
        const db = await createBenchDatabase();
        databases.push(db);
        await start(`postgres-${workers}w`, db.url, workers);
      }
    }
    for (const t of targets) await throughput(t, 8, 1, opts.clientCpus);
    opts.log(`throughput, 32 connections: ${opts.rounds} rounds of ${targets.map((t) => t.name).join(', ')}, ${opts.seconds} s each`);
    const runs = await alternate(opts.rounds, targets, (t) => throughput(t, 32, opts.seconds, opts.clientCpus));
    const peakMb = Object.fromEntries(targets.map((t) => [t.name, treePeakMb(t.server!.pid)]));
    return { runs, peakMb, postgresSkipped };
  } finally {
    for (const t of targets) await t.server?.stop();
    for (const db of databases) await db.drop().catch(() => undefined);
  }
}
