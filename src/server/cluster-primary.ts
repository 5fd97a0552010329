import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { DurabilityHealth } from '../store/types.js';
import type { WorkerHealth } from '../admin/health-route.js';
import { loadPriceCatalog } from '../accounting/price-catalog/load-price-catalog.js';
import type { Config } from '../config/load-config.js';
import { parseDatabaseUrl } from '../store/database-url.js';
import { defaultJournalPath } from '../store/journal/journal-path.js';
import { WORKER_NUMBER_ENV, isMessage, wholeProxyHealth, type Question, type ToPrimary, type ToWorker } from './cluster-messages.js';
import { errorText } from '../common/error-text.js';
import { isOutage } from '../store/postgres/schema-gate.js';
import { checkAccessSettings } from './check-access-settings.js';
import { openStore } from './open-store.js';
import { replayLeftoverJournals } from './replay-leftover-journals.js';

/** How long the primary waits for each worker's part of a /health or /metrics answer. */
const HEALTH_WAIT_MS = 1_000;
/** A worker that dies sooner than this after starting is restarted after a growing pause, not at once. */
const STEADY_AFTER_MS = 10_000;
const FIRST_RESTART_PAUSE_MS = 500;
const MAX_RESTART_PAUSE_MS = 30_000;

export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export interface RunningPrimary {
  url: string;
  /** Asks every worker to shut down as on SIGTERM and resolves once all have exited: true if all exited cleanly. */
  stop(): Promise<boolean>;
}

interface Slot {
  number: number;
  worker?: Worker;
  listening: boolean;
  startedAt: number;
  restartPause: number;
}

/**
 * The primary of `server.workers` > 1: it prepares the database once
 * (schema, catalog prices, journals of workers no longer configured), then
 * forks the workers, which share its listener (node:cluster hands each new
 * connection to one of them). It restarts a worker that dies, under the same
 * number so the new one replays the journal of the old, answers the workers'
 * /health and /metrics questions for the whole proxy, and on stop() drains them all.
 */
export async function startClusterPrimary(config: Config, log: Logger, workers: number): Promise<RunningPrimary> {
  checkAccessSettings(config, log);
  const journalPath = config.journal.path ?? defaultJournalPath(config.database.url);
  await prepareDatabase(config, log, journalPath, workers);

  const slots: Slot[] = Array.from({ length: workers }, (_, i) => ({ number: i + 1, listening: false, startedAt: 0, restartPause: FIRST_RESTART_PAUSE_MS }));
  let stopping = false;
  let started = false;
  let nextQueryId = 1;
  const queries = new Map<number, { reports: Map<number, unknown>; done: () => void }>();

  const fork = (slot: Slot) => {
    slot.listening = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_NUMBER_ENV]: String(slot.number) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (!isMessage<ToPrimary>(message)) return;
      if (message.oap === 'listening') {
        slot.listening = true;
        listened(message.url);
      } else if (message.oap === 'ask') {
        void answer(message.question).then((value) => send(worker, { oap: 'answer', id: message.id, answer: value }));
      } else if (message.oap === 'report') {
        const query = queries.get(message.id);
        query?.reports.set(slot.number, message.part);
        if (query && query.reports.size === slots.filter((s) => s.listening).length) query.done();
      }
    });
  };

  /** Every listening worker's part, by worker number; a worker that does not report within HEALTH_WAIT_MS has none. */
  const collect = async (question: Question) => {
    const id = nextQueryId++;
    const reports = new Map<number, unknown>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HEALTH_WAIT_MS);
      queries.set(id, {
        reports,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const slot of slots) if (slot.listening && slot.worker) send(slot.worker, { oap: 'query', id, question });
    });
    queries.delete(id);
    return reports;
  };

  const answer = async (question: Question): Promise<unknown> => {
    const reports = await collect(question);
    if (question === 'metrics') {
      // Counters and histograms summed over the workers; each worker's process metrics summed likewise.
      return AggregatorRegistry.aggregate([...reports.values()] as object[]).metrics();
    }
    const all = slots.map((slot): WorkerHealth => {
      const health = reports.get(slot.number) as DurabilityHealth | undefined;
      return health
        ? { worker: slot.number, pid: slot.worker?.process.pid, reporting: true, ...health }
        : { worker: slot.number, pid: slot.worker?.process.pid, reporting: false };
    });
    return wholeProxyHealth(all, parseDatabaseUrl(config.database.url).kind);
  };

  let listened: (url: string) => void = () => undefined;
  let failedToStart: (err: Error) => void = () => undefined;
  const allListening = new Promise<string>((resolve, reject) => {
    let url = '';
    listened = (u) => {
      url ||= u;
      if (slots.every((s) => s.listening)) resolve(url);
    };
    failedToStart = reject;
  });

  const exits = new Map<Worker, Promise<void>>();
  cluster.on('fork', (worker) => exits.set(worker, new Promise((resolve) => worker.once('exit', () => resolve()))));
  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.find((s) => s.worker === worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.listening = false;
    if (stopping) return;
    if (!started) {
      failedToStart(new Error(`worker ${slot.number} exited (${signal ?? code}) before it listened; its log says why`));
      return;
    }
    // At once after a steady run; a worker that keeps dying young waits 0.5 s, 1 s, 2 s, ... up to 30 s.
    const steady = Date.now() - slot.startedAt >= STEADY_AFTER_MS;
    const pause = steady ? 0 : slot.restartPause;
    slot.restartPause = steady ? FIRST_RESTART_PAUSE_MS : Math.min(slot.restartPause * 2, MAX_RESTART_PAUSE_MS);
    log.error({ worker: slot.number, pid: worker.process.pid, code, signal, restartInMs: pause }, 'worker died; starting a new one, which replays its journal');
    // Not unref'd: with every worker dead, this timer is what keeps the primary alive until it forks again.
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, pause);
  });

  const stopAll = async (): Promise<boolean> => {
    stopping = true;
    const live = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    let clean = true;
    for (const worker of live) {
      worker.once('exit', (code, signal) => {
        if (code !== 0 || signal) clean = false;
      });
      send(worker, { oap: 'shutdown' });
    }
    // Each worker keeps to server.shutdown-grace itself; this is only the backstop for one that hangs.
    const backstop = setTimeout(() => {
      for (const worker of live) worker.process.kill('SIGKILL');
    }, config.server.shutdownGraceMs + 15_000);
    await Promise.all(live.map((w) => exits.get(w)));
    clearTimeout(backstop);
    return clean;
  };

  // Each worker accepts from the shared socket itself. With round-robin the primary accepts and hands each
  // connection over: a connection handed to a worker just as it dies stays open in the primary, unanswered.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (const slot of slots) fork(slot);
  let url: string;
  try {
    url = await allListening;
  } catch (err) {
    await stopAll();
    throw err;
  }
  started = true;
  let stopped: Promise<boolean> | undefined;
  return { url, stop: () => (stopped ??= stopAll()) };
}

function send(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message);
}

/**
 * Done once here rather than by every worker at once: the schema created or
 * migrated, the catalog's prices applied, and journals no worker will own
 * replayed.
 */
async function prepareDatabase(config: Config, log: Logger, journalPath: string, workers: number): Promise<void> {
  const catalog = await loadPriceCatalog(config.prices);
  const database = await openStore(config.database.url, log, { poolSize: 1 });
  try {
    try {
      await database.catchUp();
      await database.replaceCatalogPrices(catalog.prices);
    } catch (err) {
      // PostgreSQL down at start-up: the workers start anyway, journal their calls and catch up once it answers.
      if (database.kind !== 'postgres' || !isOutage(err)) throw err;
      log.warn(`${errorText(err)}; starting the workers anyway, journals of earlier workers are replayed on the next start`);
      return;
    }
    await replayLeftoverJournals(database, journalPath, workers, log);
  } finally {
    await database.close();
  }
}
