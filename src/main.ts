import cluster from 'node:cluster';
import pino from 'pino';
import { answerInfoFlags } from './config/info-flags.js';
import { ConfigError, loadConfig } from './config/load-config.js';
import { startClusterPrimary, workerCount } from './server/cluster-primary.js';
import { primaryLink } from './server/cluster-worker.js';
import { startProxy } from './server/start-proxy.js';
import { errorText } from './common/error-text.js';
import { parseDatabaseUrl } from './store/database-url.js';

async function main(): Promise<void> {
  if (answerInfoFlags(process.argv.slice(2))) return;
  const bootLog = pino({ base: undefined });
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2) });
  } catch (err) {
    if (err instanceof ConfigError) {
      bootLog.fatal(err.message);
      process.exit(2);
    }
    throw err;
  }
  const { config, warnings } = loaded;
  const link = primaryLink();
  // Buffered: one write per 4 KB of log lines instead of one per call. Writing each line cost about a third
  // of the proxy's throughput at 32 connections (bench). A quiet proxy's lines still appear within 200 ms,
  // and what is buffered is flushed on exit.
  const log = pino(
    { level: config.log.level, base: link ? { worker: link.number } : undefined },
    pino.destination({ dest: 1, minLength: 4096, periodicFlush: 200, sync: false }),
  );
  if (!link) for (const w of warnings) log.warn(w);

  const workers = workerCount(config.server.workers);
  if (cluster.isPrimary && workers > 1) return runPrimary(config, log, workers);

  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy(config, log, { worker: link });
  } catch (err) {
    log.fatal(`could not start: ${errorText(err)}`);
    log.flush();
    process.exit(1);
  }
  const listening = { url: proxy.url, upstream: config.forward.url, database: proxy.store.kind };
  if (link) log.info(listening, 'worker listening');
  else log.info(listening, 'openai-api-proxy listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: config.server.shutdownGraceMs, inflight: proxy.app.inflight.size }, 'shutting down');
    proxy.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err: errorText(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  link?.listening(proxy.url, { durability: proxy.store, metrics: proxy.app.metrics }, shutdown);
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** server.workers > 1: this process forks the workers, restarts those that die, and drains them all on a signal. */
async function runPrimary(config: Parameters<typeof startProxy>[0], log: pino.Logger, workers: number): Promise<void> {
  let primary: Awaited<ReturnType<typeof startClusterPrimary>>;
  try {
    primary = await startClusterPrimary(config, log, workers);
  } catch (err) {
    log.fatal(`could not start: ${errorText(err)}`);
    log.flush();
    process.exit(1);
  }
  log.info({ url: primary.url, workers, upstream: config.forward.url, database: parseDatabaseUrl(config.database.url).kind }, 'openai-api-proxy listening');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers, graceMs: config.server.shutdownGraceMs }, 'shutting down every worker');
    void primary.stop().then((clean) => {
      log.info(clean ? 'stopped' : 'stopped; a worker did not exit cleanly');
      process.exit(clean ? 0 : 1);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

void main();
