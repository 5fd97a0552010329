import cluster from 'node:cluster';
import type { WholeProxyHealth } from '../admin/health-route.js';
import type { Durability } from '../store/types.js';
import { WORKER_NUMBER_ENV, isMessage, type ToPrimary, type ToWorker } from './cluster-messages.js';

/** If the primary does not answer a /health question in this time, the worker answers for itself. */
const PRIMARY_HEALTH_WAIT_MS = 3_000;

export interface PrimaryLink {
  /** 1..N: names this worker's journal, stays the same across restarts. */
  number: number;
  /** /health for every worker, collected by the primary. */
  wholeProxyHealth(): Promise<WholeProxyHealth>;
  /** Tells the primary this worker listens, and starts answering its questions. */
  listening(url: string, durability: Durability, shutdown: (reason: string) => void): void;
}

/** This process's link to its primary when it is a worker of server.workers > 1; undefined otherwise. */
export function primaryLink(): PrimaryLink | undefined {
  if (!cluster.isWorker) return undefined;
  const number = Number(process.env[WORKER_NUMBER_ENV]);
  if (!Number.isInteger(number) || number < 1) throw new Error(`a worker needs ${WORKER_NUMBER_ENV} (1..N) from its primary`);
  let nextId = 1;
  const waiting = new Map<number, (health: WholeProxyHealth) => void>();
  let ownHealth: Durability | undefined;
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
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.oap === 'health-answer') waiting.get(message.id)?.(message.health);
    else if (message.oap === 'health-query' && ownHealth) send({ oap: 'health-report', id: message.id, health: ownHealth.health() });
    else if (message.oap === 'shutdown') stop('primary asked');
  });
  return {
    number,
    wholeProxyHealth: () =>
      new Promise((resolve) => {
        const id = nextId++;
        const timer = setTimeout(() => answer(alone(number, ownHealth)), PRIMARY_HEALTH_WAIT_MS);
        const answer = (health: WholeProxyHealth) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(health);
        };
        waiting.set(id, answer);
        send({ oap: 'health-request', id });
      }),
    listening(url, durability, shutdownWorker) {
      ownHealth = durability;
      shutdown = shutdownWorker;
      send({ oap: 'listening', url });
      if (stopRequested) shutdownWorker(stopRequested);
    },
  };
}

/** What a worker can say when its primary does not answer: only its own part, and that the rest is unknown. */
function alone(number: number, durability: Durability | undefined): WholeProxyHealth {
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
