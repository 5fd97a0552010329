import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runToCompletion, startServer, type Server } from './processes.js';
import type { Target } from './servers.js';

/**
 * Portkey's AI gateway, for `--peers`: installed into a temporary folder
 * (never into this project), pinned, with @hono/node-server held at 1.13.8
 * through an npm override because its streaming breaks with later 1.x.
 */
export const PORTKEY_VERSION = '1.15.2';
const HONO_NODE_SERVER = '1.13.8';

// Portkey calls serve({ port }) without a hostname, which binds every interface.
// This preload makes a listen() without a host listen on 127.0.0.1 only.
const BIND_LOOPBACK = `import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    if (args[1] === undefined) args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
`;

export async function installPortkey(dir: string): Promise<{ entry: string; preload: string }> {
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'oap-bench-peers',
      private: true,
      dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION },
      overrides: { '@hono/node-server': HONO_NODE_SERVER },
    }),
  );
  const preload = join(dir, 'bind-loopback.mjs');
  writeFileSync(preload, BIND_LOOPBACK);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await runToCompletion(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, timeoutMs: 300_000 });
  return { entry: join(dir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'), preload };
}

export async function startPortkey(opts: { entry: string; preload: string; upstream: Server; workDir: string; cpus?: string }): Promise<Target> {
  const port = await freePort();
  const server = await startServer({
    name: 'Portkey gateway',
    command: process.execPath,
    // Its start flag is --port=N; --headless skips its web UI.
    args: ['--import', opts.preload, opts.entry, `--port=${port}`, '--headless'],
    port,
    logPath: join(opts.workDir, 'portkey.log'),
    env: { ...process.env, NODE_ENV: 'production' },
    cpus: opts.cpus,
    ready: async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).ok,
    timeoutMs: 60_000,
  });
  return {
    name: 'portkey',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: {
      'content-type': 'application/json',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `http://127.0.0.1:${opts.upstream.port}/v1`,
      authorization: 'Bearer sk-bench-forward-token',
    },
    server,
  };
}
