import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config/load-config.js';
import { startProxy, type RunningProxy } from '../../src/server/start-proxy.js';
import type { StoreKind } from './each-store.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { openStore } from '../../src/server/open-store.js';
import type { Store } from '../../src/store/types.js';
import { UpstreamStandIn } from './upstream-stand-in.js';

export const FORWARD_TOKEN = 'sk-test-forward-token-never-shown';

export interface Harness {
  proxy: RunningProxy;
  upstream: UpstreamStandIn;
  url: string;
  dir: string;
  /** The SQLite file (sqlite store only). */
  dbPath: string;
  store: StoreKind;
  /** What database.url was set to; pass it as opts.databaseUrl to start a second proxy on the same database. */
  databaseUrl: string;
  /** Every log line the proxy wrote. */
  logs: string[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  upstream?: UpstreamStandIn;
  /** Which store; default sqlite. See each-store.ts for running a test on both. */
  store?: StoreKind;
  /** Share an existing database (another harness's databaseUrl) instead of a fresh one; it is not removed by close(). */
  databaseUrl?: string;
  /** false: start without forward.token, as a proxy whose callers bring their own key. */
  withToken?: boolean;
  /** Wraps the real store, e.g. to inject faults (reliability tests). */
  wrapStore?: (store: Store) => Store;
}

/** A real proxy on a fresh database (a temporary SQLite file, or a new PostgreSQL database) in front of a real loopback stand-in. */
export async function startHarness(overrides: string[] = [], opts: HarnessOptions = {}): Promise<Harness> {
  const store = opts.store ?? 'sqlite';
  const upstream = opts.upstream ?? new UpstreamStandIn();
  const upstreamUrl = await upstream.start();
  const dir = mkdtempSync(join(tmpdir(), 'oap-test-'));
  const dbPath = join(dir, 'queries.db');
  let ownDatabase: TestDatabase | undefined;
  let databaseUrl = opts.databaseUrl;
  if (!databaseUrl && store === 'postgres') {
    ownDatabase = await createTestDatabase();
    databaseUrl = ownDatabase.url;
  }
  databaseUrl ??= dbPath;
  const { config } = loadConfig({
    cwd: dir,
    env: {},
    argv: [
      `--forward.url=${upstreamUrl}`,
      ...(opts.withToken === false ? [] : [`--forward.token=${FORWARD_TOKEN}`]),
      `--database.url=${databaseUrl}`,
      // Each harness its own journal (PostgreSQL's default is the working directory, which test files share).
      `--journal.path=${join(dir, 'queries.journal')}`,
      '--server.port=0',
      ...overrides,
    ],
  });
  const logs: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  );
  let proxy: RunningProxy;
  try {
    const store = opts.wrapStore ? opts.wrapStore(await openStore(config.database.url, log, { poolSize: config.database.poolSize })) : undefined;
    proxy = await startProxy(config as Config, log, { store });
  } catch (err) {
    await ownDatabase?.drop();
    throw err;
  }
  return {
    proxy,
    upstream,
    url: proxy.url,
    dir,
    dbPath,
    store,
    databaseUrl,
    logs,
    async close() {
      await proxy.stop();
      await upstream.stop();
      await ownDatabase?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
