import type { WholeProxyHealth, WorkerHealth } from '../admin/health-route.js';
import type { DurabilityHealth } from '../store/types.js';

/** The environment variable that tells a forked worker its number (1..N), which names its journal. */
export const WORKER_NUMBER_ENV = 'OAP_WORKER_NUMBER';

/** What a worker's admin route may ask the primary about the whole proxy. */
export type Question = 'health' | 'metrics';

/**
 * IPC between the primary and its workers (server.workers > 1); `oap` tells
 * them from Node's own cluster messages. A worker asks a question; the
 * primary puts it to every worker (`query`), each reports its own part, and
 * the primary answers the asker with the parts combined.
 */
export type ToPrimary = { oap: 'listening'; url: string } | { oap: 'ask'; id: number; question: Question } | { oap: 'report'; id: number; part: unknown };

export type ToWorker = { oap: 'query'; id: number; question: Question } | { oap: 'answer'; id: number; answer: unknown } | { oap: 'shutdown' };

export function isMessage<T extends { oap: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { oap?: unknown }).oap === 'string';
}

/**
 * The proxy is healthy when every worker is: one that cannot record (503)
 * would refuse its share of the calls, so the whole proxy says so. A worker
 * that did not answer (being restarted) makes it degraded, not refusing:
 * the others take its calls.
 */
export function wholeProxyHealth(workers: WorkerHealth[], kind: string): WholeProxyHealth {
  const reports = workers.flatMap((w): DurabilityHealth[] =>
    w.reporting && w.status && w.database && w.journal && w.acceptingCalls !== undefined
      ? [{ status: w.status, acceptingCalls: w.acceptingCalls, database: w.database, journal: w.journal, unsaved: w.unsaved ?? 0 }]
      : [],
  );
  const databaseError = reports.find((r) => r.database.lastError !== undefined)?.database.lastError;
  const journalError = reports.find((r) => r.journal.lastError !== undefined)?.journal.lastError;
  return {
    status: reports.length === workers.length && reports.every((r) => r.status === 'ok') ? 'ok' : 'degraded',
    acceptingCalls: reports.length > 0 && reports.every((r) => r.acceptingCalls),
    database: { kind, writable: reports.every((r) => r.database.writable), ...(databaseError === undefined ? {} : { lastError: databaseError }) },
    journal: {
      pending: reports.reduce((sum, r) => sum + r.journal.pending, 0),
      writable: reports.every((r) => r.journal.writable),
      ...(journalError === undefined ? {} : { lastError: journalError }),
    },
    unsaved: reports.reduce((sum, r) => sum + r.unsaved, 0),
    workers,
  };
}
