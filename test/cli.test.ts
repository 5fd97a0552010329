import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { builtProxyMain } from './support/built-proxy.js';
import { startChildProxy, type ChildProxy } from './support/child-proxy.js';
import { UpstreamStandIn } from './support/upstream-stand-in.js';

let proxy: ChildProxy | undefined;
let upstream: UpstreamStandIn | undefined;
afterEach(async () => {
  proxy?.kill('SIGKILL');
  await upstream?.stop();
  proxy = upstream = undefined;
});

describe('the openai-api-proxy command', () => {
  it('starts on a fresh directory with the SQLite default, serves, and exits 0 on SIGTERM', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oap-cli-'));
    upstream = new UpstreamStandIn();
    const upstreamUrl = await upstream.start();
    writeFileSync(join(cwd, 'application.yaml'), `forward:\n  url: ${upstreamUrl}/chat/completions\n`);
    proxy = await startChildProxy([], { cwd, env: { FORWARD_TOKEN: 'sk-from-env' } });
    expect(existsSync(join(cwd, 'openai-queries.db'))).toBe(true);

    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'adam' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(upstream.last.headers.authorization).toBe('Bearer sk-from-env');
    expect(upstream.last.url).toBe('/v1/chat/completions');
    // The log line travels through a pipe and may arrive just after the answer.
    await expect.poll(() => proxy!.logs.join('\n')).toMatch(/"user":"adam".*"model":"gpt-4o-2024-08-06".*"status":200/);
    expect(proxy.logs.join('\n')).not.toContain('sk-from-env');

    proxy.kill('SIGTERM');
    expect((await proxy.exited).code).toBe(0);
  });

  it('stops with a message naming the key when a setting is bad', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oap-cli-'));
    const run = promisify(execFile)(process.execPath, [builtProxyMain(), '--server.port=eighty'], { cwd });
    const err = await run.then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).toBe(2);
    expect(String(err.stdout) + String(err.stderr)).toContain('server.port');
  });

  it('stops with a message when the database cannot be opened', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oap-cli-'));
    const run = promisify(execFile)(process.execPath, [builtProxyMain(), '--database.url=/nonexistent-dir/x/q.db', '--server.port=0'], { cwd });
    const err = await run.then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).toBe(1);
    expect(String(err.stdout) + String(err.stderr)).toMatch(/could not start/);
  });
});
