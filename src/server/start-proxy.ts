import type { Logger } from 'pino';
import { loadPriceCatalog } from '../accounting/price-catalog/load-price-catalog.js';
import type { Config } from '../config/load-config.js';
import { buildApp, type App } from './app.js';
import { BatchPoller } from '../proxy/batch-poller.js';
import type { ChargeBudgets } from '../proxy/charge-budgets.js';
import { createRealtimeRelay } from '../proxy/realtime-relay.js';
import { createTokenCounter } from '../proxy/token-counter.js';
import { createUpstream } from '../proxy/upstream.js';
import { JournalingStore } from '../store/journal/journaling-store.js';
import { defaultJournalPath, workerJournalPath } from '../store/journal/journal-path.js';
import type { WholeProxy } from '../admin/whole-proxy.js';
import { replayLeftoverJournals } from './replay-leftover-journals.js';
import { checkAccessSettings } from './check-access-settings.js';
import { openStore } from './open-store.js';
import type { Store } from '../store/types.js';

export interface RunningProxy {
  app: App;
  store: JournalingStore;
  /** Where it listens, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting, lets calls finish within the grace period, breaks off the rest, closes the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** A store to use instead of opening database.url (tests). */
  store?: Store;
  /** Set in a worker of server.workers > 1: its number names its journal, and /health and /metrics answer for all workers. */
  worker?: WholeProxy & { number: number };
}

/** Everything main.ts starts, as one function tests can call with their own config. */
export async function startProxy(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningProxy> {
  // A worker's primary checked the same settings before forking it.
  if (!opts.worker) checkAccessSettings(config, log);
  const catalog = await loadPriceCatalog(config.prices);
  const database = opts.store ?? (await openStore(config.database.url, log, { poolSize: config.database.poolSize }));
  // Every store sits under the journal: a failing database write becomes a journal line, not a lost call. The
  // catalog's prices are written as part of catching up, so a database that is down at start-up gets them once it answers.
  let store: JournalingStore;
  try {
    const journalPath = config.journal.path ?? defaultJournalPath(config.database.url);
    // A single process also takes over the journals of workers an earlier run had (their primary does it for workers).
    if (!opts.worker && !opts.store) await replayLeftoverJournals(database, journalPath, 0, log);
    store = await JournalingStore.open(database, {
      journalPath: opts.worker ? workerJournalPath(journalPath, opts.worker.number) : journalPath,
      log,
      catchUp: async () => {
        await database.replaceCatalogPrices(catalog.prices);
        log.info({ models: catalog.prices.size, file: config.prices.file ?? null, bundled: config.prices.catalog }, 'catalog prices loaded');
      },
    });
  } catch (err) {
    if (!opts.store) await database.close();
    throw err;
  }
  const upstream = createUpstream(config.forward);
  // The tokenizers load in the background now, so that the first call needing an estimate does not wait for them.
  const counter = createTokenCounter();
  const app = await buildApp({
    config,
    store,
    durability: store,
    upstream,
    log,
    catalogOrigins: catalog.origins,
    counter,
    access: store.access,
    wholeProxy: opts.worker,
  });
  const billing = { organization: config.forward.organization, project: config.forward.project, callersChoose: config.forward.callerOrganization };
  const chargeBudgets: ChargeBudgets = (payer, at, usd) => app.spendGate.charge(payer, at, usd);
  const realtime = createRealtimeRelay({
    upstream,
    store,
    log,
    callers: app.callers,
    chargeBudgets,
    forwardToken: config.forward.token,
    commitGate: store,
    billing,
  });
  app.fastify.server.on('upgrade', realtime.handleUpgrade);
  await app.fastify.listen({ port: config.server.port, host: config.server.host });
  // One poller per process group: worker 1's (its lease keeps instances from polling the same batch anyway).
  const pollsBatches = (opts.worker?.number ?? 1) === 1;
  const batches =
    config.forward.token && pollsBatches
      ? new BatchPoller({ upstream, store, log, forwardToken: config.forward.token, intervalMs: config.batches.pollIntervalMs, billing, chargeBudgets })
      : undefined;
  batches?.start();
  const address = app.fastify.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await batches?.stop();
      const closed = app.fastify.close();
      const finished = await app.inflight.waitUntilIdle(config.server.shutdownGraceMs);
      if (!finished) {
        log.warn({ calls: app.inflight.size }, 'grace period over: breaking off the calls still in flight');
        app.inflight.abortAll('shutdown');
        await app.inflight.waitUntilIdle(5_000);
      }
      // A call counts as done once its handler returns; one that ended by throwing (a 503 for a call broken off
      // before its answer) has its error answer written by Fastify just after. Let those go out first.
      await new Promise((resolve) => setImmediate(resolve));
      app.fastify.server.closeAllConnections?.();
      realtime.close();
      await closed;
      await upstream.close().catch(() => undefined);
      await counter.close();
      await store.close();
    })());
  return { app, store, url: `http://${host}:${port}`, stop };
}
