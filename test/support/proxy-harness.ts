import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config/load-config.js';
import { startProxy, type RunningProxy } from '../../src/proxy-server.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { UpstreamStandIn } from './upstream-stand-in.js';

export const FORWARD_TOKEN = 'sk-test-forward-token-never-shown';

export interface Harness {
  proxy: RunningProxy;
  upstream: UpstreamStandIn;
  url: string;
  dir: string;
  dbPath: string;
  /** Every log line the proxy wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** A real proxy on a temporary SQLite file in front of a real loopback stand-in. */
export async function startHarness(
  overrides: string[] = [],
  opts: { upstream?: UpstreamStandIn; wrapStore?: (store: Store) => Store } = {},
): Promise<Harness> {
  const upstream = opts.upstream ?? new UpstreamStandIn();
  const upstreamUrl = await upstream.start();
  const dir = mkdtempSync(join(tmpdir(), 'oap-test-'));
  const dbPath = join(dir, 'queries.db');
  const { config } = loadConfig({
    cwd: dir,
    env: {},
    argv: [`--forward.url=${upstreamUrl}`, `--forward.token=${FORWARD_TOKEN}`, `--database.url=${dbPath}`, '--server.port=0', ...overrides],
  });
  const logs: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } }));
  const store = opts.wrapStore ? opts.wrapStore(await openStore(config.database.url, log)) : undefined;
  const proxy = await startProxy(config as Config, log, { store });
  return {
    proxy,
    upstream,
    url: proxy.url,
    dir,
    dbPath,
    logs,
    async close() {
      await proxy.stop();
      await upstream.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
