import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, envNameOf, type KeySpec } from '../src/config/keys.js';
import { ConfigError, loadConfig } from '../src/config/load-config.js';
import { settingsPage } from '../src/config/settings-page.js';
import { maskUrlPassword, shownValue } from '../src/config/shown-value.js';
import { builtProxyMain } from './support/built-proxy.js';
import { startChildProxy } from './support/child-proxy.js';

const ROOT = join(import.meta.dirname, '..');
const packageVersion = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const keys = Object.entries(CONFIG_KEYS) as [string, KeySpec][];
const run = (args: string[], cwd = mkdtempSync(join(tmpdir(), 'oap-help-'))) =>
  promisify(execFile)(process.execPath, [builtProxyMain(), ...args], { cwd, env: { PATH: process.env.PATH ?? '' } });

/** The block `--help` prints for one key: its flag line and the lines indented under it. */
function helpBlock(help: string, key: string): string {
  const start = help.indexOf(`  --${key}=`);
  expect(start, `--help lists --${key}`).toBeGreaterThanOrEqual(0);
  return help.slice(start, help.indexOf('\n\n', start));
}

describe('openai-api-proxy --help', () => {
  it('lists every setting of the key table with its flag, environment variable, yaml key, default and description, and exits 0', async () => {
    const { stdout } = await run(['--help']);
    for (const [key, spec] of keys) {
      const block = helpBlock(stdout, key);
      expect(block).toContain(`--${key}=${spec.value.placeholder}`);
      expect(block).toContain(`env ${envNameOf(key)}`);
      expect(block).toContain(`yaml ${key}`);
      expect(block).toContain(spec.help);
      expect(block).toMatch(/default \S/);
    }
    expect(stdout).toContain('spring.datasource.url (SPRING_DATASOURCE_URL) is read as database.url');
  });

  it('shows defaults as they are written: durations in s or m, sizes in MB', async () => {
    const { stdout } = await run(['--help']);
    expect(helpBlock(stdout, 'server.shutdown-grace')).toContain('default 30s');
    expect(helpBlock(stdout, 'forward.idle-timeout')).toContain('default 15m');
    expect(helpBlock(stdout, 'server.body-limit')).toContain('default 64MB');
    expect(helpBlock(stdout, 'forward.token')).toContain('default none');
  });

  it('answers -h the same, before reading a configuration that would stop start-up', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oap-help-'));
    writeFileSync(join(cwd, 'application.yaml'), 'no.such.key: 1\n');
    const long = await run(['--help'], cwd);
    const short = await run(['--server.port=eighty', '-h'], cwd);
    expect(short.stdout).toBe(long.stdout);
  });
});

describe('openai-api-proxy --version', () => {
  it('prints the version of package.json and exits 0, as -v too', async () => {
    expect((await run(['--version'])).stdout).toBe(`${packageVersion}\n`);
    expect((await run(['-v'])).stdout).toBe(`${packageVersion}\n`);
  });
});

describe('docs/settings.md', () => {
  const page = readFileSync(join(ROOT, 'docs', 'settings.md'), 'utf8');

  it('has a row for every key of the key table, with its environment variable', () => {
    for (const [key] of keys) expect(page, `docs/settings.md lists ${key}`).toMatch(new RegExp(`^\\| \`${key}\` \\|.*\\| \`${envNameOf(key)}\` \\|`, 'm'));
  });

  it('is the page generated from the key table (run `npm run docs:settings` after changing it)', () => {
    expect(page).toBe(settingsPage());
  });
});

describe('secrets wherever configuration is printed', () => {
  it('masks forward.token whole and only the password of a database URL', () => {
    expect(shownValue(CONFIG_KEYS['forward.token'], 'sk-live-123')).toBe('***');
    const db = CONFIG_KEYS['database.url'];
    expect(shownValue(db, 'postgres://proxy:s3cret@db.internal:5432/ledger')).toBe('postgres://proxy:***@db.internal:5432/ledger');
    expect(shownValue(db, 'jdbc:postgresql://db.internal/ledger?user=proxy&password=s3cret')).toBe(
      'jdbc:postgresql://db.internal/ledger?user=proxy&password=***',
    );
    expect(shownValue(db, 'postgres://proxy@db.internal/ledger')).toBe('postgres://proxy@db.internal/ledger');
    expect(shownValue(db, '/var/lib/openai-api-proxy/queries.db')).toBe('/var/lib/openai-api-proxy/queries.db');
    expect(maskUrlPassword('not a url: s3cret')).toBe('not a url: s3cret');
  });

  it('names a bad forward.token without quoting it', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oap-help-'));
    writeFileSync(join(cwd, 'application.yaml'), 'forward:\n  token: [sk-live-123]\n');
    const err = (() => {
      try {
        loadConfig({ cwd, env: {}, argv: [] });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain('forward.token');
    expect(err!.message).not.toContain('sk-live-123');
  });

  it('the command starts with a PostgreSQL database it cannot reach, and reports it with the password masked', async () => {
    const proxy = await startChildProxy(['--database.url=postgres://proxy:s3cret@127.0.0.1:1/ledger'], { cwd: mkdtempSync(join(tmpdir(), 'oap-help-')) });
    try {
      const health = await (await fetch(`${proxy.url}/health`)).json();
      expect(health).toMatchObject({ status: 'degraded', database: { writable: false } });
      const output = `${proxy.logs.join('\n')}\n${JSON.stringify(health)}`;
      expect(output).toContain('postgres://proxy:***@127.0.0.1:1/ledger');
      expect(output).not.toContain('s3cret');
    } finally {
      proxy.kill('SIGKILL');
      await proxy.exited;
    }
  });
});
