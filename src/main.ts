import pino from 'pino';
import { ConfigError, loadConfig } from './config/load-config.js';
import { startProxy } from './proxy-server.js';

async function main(): Promise<void> {
  const bootLog = pino({ base: undefined });
  let loaded;
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
  const log = pino({ level: config.log.level, base: undefined });
  for (const w of warnings) log.warn(w);
  if (!config.forward.token) {
    log.warn('NO forward.token IS SET: callers\' own Authorization headers are passed to the upstream unchanged. Set FORWARD_TOKEN to inject the organisation\'s key.');
  }
  if (config.server.host !== '127.0.0.1' && config.server.host !== 'localhost' && config.server.host !== '::1') {
    log.warn({ host: config.server.host }, 'listening beyond this machine: the proxy has no authentication of its own');
  }

  let proxy;
  try {
    proxy = await startProxy(config, log);
  } catch (err) {
    log.fatal(`could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  log.info({ url: proxy.url, upstream: config.forward.url, database: proxy.store.kind }, 'openai-api-proxy listening');

  const shutdown = (signal: string) => {
    log.info({ signal, graceMs: config.server.shutdownGraceMs, inflight: proxy.app.inflight.size }, 'shutting down');
    proxy.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err: String(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

void main();
