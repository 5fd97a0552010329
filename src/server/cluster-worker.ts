import cluster from 'node:cluster';
import type { WholeProxyHealth } from '../admin/health-route.js';
import type { WholeProxy } from '../admin/whole-proxy.js';
import type { PrometheusMetrics } from '../proxy/call-metrics.js';
import type { Durability } from '../store/types.js';
import { WORKER_NUMBER_ENV, isMessage, type Question, type ToPrimary, type ToWorker } from './cluster-messages.js';

/** If the primary does not answer in this time, the worker answers for itself alone. */
const PRIMARY_WAIT_MS = 3_000;

export interface PrimaryLink extends WholeProxy {
  /** 1..N: names this worker's journal, stays the same across restarts. */
  number: number;
  /** Tells the primary this worker listens, and starts answering its questions. */
  listening(url: string, parts: { durability: Durability; metrics?: PrometheusMetrics }, shutdown: (reason: string) => void): void;
}

/** This process's link to its primary when it is a worker of server.workers > 1; undefined otherwise. */
export function primaryLink(): PrimaryLink | undefined {
  if (!cluster.isWorker) return undefined;
  const number = Number(process.env[WORKER_NUMBER_ENV]);
  if (!Number.isInteger(number) || number < 1) throw new Error(`a worker needs ${WORKER_NUMBER_ENV} (1..N) from its primary`);
  let nextId = 1;
  const waiting = new Map<number, (answer: unknown) => void>();
  let own: { durability: Durability; metrics?: PrometheusMetrics } | undefined;
  let shutdown: ((reason: string) => void) | undefined;
  /** Asked to stop while still starting: it stops as soon as it listens. */
  let stopRequested: string | undefined;
  const stop = (reason: string) => {
    if (shutdown) shutdown(reason);
    else stopRequested ??= reason;
  };
  // The primary is gone (killed): nobody restarts this worker or answers for the proxy, so it drains and ends too.
  cluster.worker?.on('disconnect', () => stop('primary gone'));
  const send = (message: ToPrimary) => {
    if (process.connected) process.send?.(message);
  };
  const ownPart = async (question: Question): Promise<unknown> => {
    if (question === 'health') return own?.durability.health();
    return own?.metrics ? own.metrics.registry.getMetricsAsJSON() : [];
  };
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.oap === 'answer') waiting.get(message.id)?.(message.answer);
    else if (message.oap === 'query' && own) void ownPart(message.question).then((part) => send({ oap: 'report', id: message.id, part }));
    else if (message.oap === 'shutdown') stop('primary asked');
  });
  const ask = <T>(question: Question, alone: () => Promise<T>) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      const answer = (value: unknown) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(value as T);
      };
      const timer = setTimeout(() => void alone().then(answer), PRIMARY_WAIT_MS);
      waiting.set(id, answer);
      send({ oap: 'ask', id, question });
    });
  return {
    number,
    health: () => ask('health', async () => healthAlone(number, own?.durability)),
    metrics: () => ask('metrics', async () => (own?.metrics ? own.metrics.scrape() : '')),
    listening(url, parts, shutdownWorker) {
      own = parts;
      shutdown = shutdownWorker;
      send({ oap: 'listening', url });
      if (stopRequested) shutdownWorker(stopRequested);
    },
  };
}

/** What a worker can say when its primary does not answer: only its own part, and that the rest is unknown. */
function healthAlone(number: number, durability: Durability | undefined): WholeProxyHealth {
  const own = durability?.health();
  return {
    status: 'degraded',
    acceptingCalls: own?.acceptingCalls ?? false,
    database: own?.database ?? { kind: 'unknown', writable: false },
    journal: { pending: own?.journal.pending ?? 0, writable: own?.journal.writable ?? false },
    unsaved: own?.unsaved ?? 0,
    workers: [{ worker: number, pid: process.pid, reporting: own !== undefined, ...own }],
  };
}
