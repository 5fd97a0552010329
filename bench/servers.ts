import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startServer, type Server } from './processes.js';

/** Something the load is sent to: the stand-in itself (direct), our proxy, or a peer gateway. */
export interface Target {
  name: string;
  /** The chat completions URL. */
  url: string;
  headers: Record<string, string>;
  /** The process whose CPU and memory are read; none for direct calls. */
  server?: Server;
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** The built proxy, as `npm start` runs it (dist-bench/bench/ -> dist/). */
export const PROXY_MAIN = join(here, '..', '..', 'dist', 'main.js');
const UPSTREAM_MAIN = join(here, 'upstream-server.js');

const FORWARD_TOKEN = 'sk-bench-forward-token';

async function answers(url: string, init?: RequestInit): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

export async function startUpstream(workDir: string, cpus?: string): Promise<Server> {
  const port = await freePort();
  return startServer({
    name: 'upstream stand-in',
    command: process.execPath,
    args: [UPSTREAM_MAIN, String(port)],
    port,
    logPath: join(workDir, 'upstream.log'),
    cpus,
    ready: () => answers(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', body: '{}' }),
  });
}

export function directTarget(upstream: Server): Target {
  return { name: 'direct', url: `http://127.0.0.1:${upstream.port}/v1/chat/completions`, headers: { 'content-type': 'application/json' } };
}

/** The V8 flags the proxy's command starts it with (bin/openai-api-proxy.js, `npm start`): the bench measures it as it ships. */
const PROXY_NODE_FLAGS = ['--max-semi-space-size=4'];

/** Our proxy as its own process: `node dist/main.js` configured with flags, recording into `dbPath`. */
export async function startProxy(opts: {
  upstream: Server;
  dbPath: string;
  workDir: string;
  cpus?: string;
  profileDir?: string;
  name?: string;
  nodeFlags?: string[];
  /** More flags for the proxy itself, e.g. --metrics.enabled=false or --server.workers=2. */
  proxyFlags?: string[];
}): Promise<Target> {
  const nodeFlags = [...PROXY_NODE_FLAGS, ...(opts.nodeFlags ?? []), ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [])];
  const server = await startServer({
    name: 'proxy',
    command: process.execPath,
    args: [
      ...nodeFlags,
      PROXY_MAIN,
      `--forward.url=http://127.0.0.1:${opts.upstream.port}/v1`,
      `--forward.token=${FORWARD_TOKEN}`,
      `--database.url=${opts.dbPath}`,
      '--server.port=0',
      '--server.host=127.0.0.1',
      ...(opts.proxyFlags ?? []),
    ],
    port: 0,
    // The proxy's start-up line: {"url":"http://127.0.0.1:PORT",...,"msg":"openai-api-proxy listening"}.
    portFromLog: /"url":"http:\/\/127\.0\.0\.1:(\d+)"[^\n]*openai-api-proxy listening/,
    logPath: join(opts.workDir, `${opts.name ?? 'proxy'}.log`),
    cpus: opts.cpus,
    ready: (port) => answers(`http://127.0.0.1:${port}/health`),
    timeoutMs: 120_000,
  });
  return {
    name: opts.name ?? 'proxy',
    url: `http://127.0.0.1:${server.port}/v1/chat/completions`,
    headers: { 'content-type': 'application/json', 'x-user': 'bench-user', authorization: 'Bearer sk-caller-key' },
    server,
  };
}

export async function putPrice(proxy: Target, model: string, price: { validFrom: string; per1KQueryTokens: number; per1KAnswerTokens: number }): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${proxy.server!.port}/model/${encodeURIComponent(model)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(price),
  });
  if (!res.ok) throw new Error(`could not price ${model}: ${res.status} ${await res.text()}`);
}
