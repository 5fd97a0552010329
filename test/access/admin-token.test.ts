import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { startProxy } from '../../src/server/start-proxy.js';
import { accessAdmin, ADMIN_TOKEN } from '../support/access-admin.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';

describe('the admin token', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`]);
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);
  const stranger = accessAdmin(() => h.url, null);
  const guesser = accessAdmin(() => h.url, `${ADMIN_TOKEN}x`);

  it('guards every admin route with 401 and an OpenAI-style error, and lets the token through', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/usage'],
      ['GET', '/queries'],
      ['GET', '/models'],
      ['GET', '/model/gpt-4o'],
      ['GET', '/ratelimits'],
      ['POST', '/model/gpt-4o', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 1, per1KAnswerTokens: 1 }],
      ['GET', '/keys'],
      ['POST', '/keys', { user: 'adam' }],
      ['DELETE', '/keys/key_x'],
      ['GET', '/budgets'],
      ['PUT', '/budgets/global', { usd: 5, period: 'month' }],
      ['GET', '/limits'],
      ['GET', '/metrics'],
      ['GET', '/no/such/route'],
    ];
    for (const [method, path, body] of routes) {
      for (const client of [stranger, guesser]) {
        const answer = await client.call(method, path, body);
        expect(answer.status, `${method} ${path}`).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
        expect(answer.body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_admin_token' });
      }
    }
    // Nothing a refused request asked for happened.
    expect(await admin.ok('GET', '/keys')).toEqual([]);
    expect(await admin.ok('GET', '/budgets')).toEqual([]);
    expect((await admin.ok('GET', '/usage')).numQueries).toBe(0);
    await admin.ok('PUT', '/budgets/global', { usd: 5, period: 'month' });
  });

  it("serves the dashboard's page without the token, while every figure it shows still needs it", async () => {
    const page = await fetch(`${h.url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    await page.text();
    for (const path of ['/usage?groupBy=day', '/queries?order=newest', '/ratelimits?by=model', '/models']) {
      expect((await stranger.call('GET', path)).status, path).toBe(401);
    }
  });

  it('keeps /health open, showing only whether calls are taken, and its details to the administrator', async () => {
    const open = await stranger.call('GET', '/health');
    expect(open.status).toBe(200);
    expect(open.body).toEqual({ status: 'ok', acceptingCalls: true });
    const full = await admin.ok('GET', '/health');
    expect(full.journal.path).toEqual(expect.any(String));
  });

  it('leaves the proxied API to its own rules', async () => {
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'adam' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
  });
});

describe('listening beyond this machine', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'oap-admin-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const start = async (flags: string[]) => {
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const { config } = loadConfig({
      cwd: dir,
      env: {},
      argv: ['--server.host=0.0.0.0', '--server.port=0', `--database.url=${join(dir, 'q.db')}`, '--prices.catalog=false', ...flags],
    });
    return { proxy: await startProxy(config, log), lines };
  };

  it('refuses to start without an admin token, naming both ways out', async () => {
    await expect(start([])).rejects.toThrow(/admin\.token.*admin\.open: true|admin\.open: true.*admin\.token/s);
  });

  it('starts with an admin token, read from a file when given as a path', async () => {
    const file = join(dir, 'admin-token');
    writeFileSync(file, `${ADMIN_TOKEN}\n`);
    const { proxy } = await start([`--admin.token=${file}`]);
    try {
      const url = proxy.url.replace('0.0.0.0', '127.0.0.1');
      expect((await accessAdmin(() => url).call('GET', '/keys')).status).toBe(200);
      expect((await accessAdmin(() => url, file).call('GET', '/keys')).status).toBe(401);
    } finally {
      await proxy.stop();
    }
  });

  it('starts with admin.open: true, and warns that the admin API is open', async () => {
    const { proxy, lines } = await start(['--admin.open=true']);
    await proxy.stop();
    expect(lines.join('\n')).toMatch(/admin API is open/);
  });
});
