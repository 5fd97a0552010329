import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load-config.js';
import { normaliseForwardUrl } from '../src/proxy/upstream.js';
import { parseDatabaseUrl } from '../src/store/database-url.js';

function dirWithYaml(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'oap-config-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'application.yaml'), yaml);
  return dir;
}

describe('configuration sources', () => {
  it('uses the documented defaults when nothing is set', () => {
    const { config } = loadConfig({ cwd: dirWithYaml(), env: {}, argv: [] });
    expect(config.forward.url).toBe('https://api.openai.com/v1');
    expect(config.forward.token).toBeUndefined();
    expect(config.database.url).toBe('openai-queries.db');
    expect(config.server).toMatchObject({ port: 8080, host: '127.0.0.1' });
    expect(config.server.bodyLimitBytes).toBeGreaterThanOrEqual(32 * 1024 * 1024);
  });

  it('layers application.yaml < environment < command-line flags', () => {
    const cwd = dirWithYaml('server:\n  port: 9001\n  host: 0.0.0.0\nforward.token: from-yaml\nforward:\n  url: http://yaml.invalid/v1\n');
    const env = { SERVER_PORT: '9002', FORWARD_TOKEN: 'from-env' };
    const { config } = loadConfig({ cwd, env, argv: ['--server.port=9003'] });
    expect(config.server.port).toBe(9003);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.forward.token).toBe('from-env');
    expect(config.forward.url).toBe('http://yaml.invalid/v1');
    expect(loadConfig({ cwd, env, argv: [] }).config.server.port).toBe(9002);
    expect(loadConfig({ cwd, env: {}, argv: [] }).config.server.port).toBe(9001);
  });

  it('accepts flags as --key value too, and dashed keys from the environment', () => {
    const { config } = loadConfig({ cwd: dirWithYaml(), env: { FORWARD_IDLE_TIMEOUT: '2m' }, argv: ['--server.port', '7000'] });
    expect(config.server.port).toBe(7000);
    expect(config.forward.idleTimeoutMs).toBe(120_000);
  });

  it("keeps the original's SPRING_DATASOURCE_URL working as an alias of database.url", () => {
    const { config } = loadConfig({ cwd: dirWithYaml(), env: { SPRING_DATASOURCE_URL: 'jdbc:sqlite:/var/lib/openai-api-proxy/queries.db' } });
    expect(config.database.url).toBe('jdbc:sqlite:/var/lib/openai-api-proxy/queries.db');
    expect(parseDatabaseUrl(config.database.url)).toEqual({ kind: 'sqlite', path: '/var/lib/openai-api-proxy/queries.db' });
  });

  it('prefers database.url over its alias within one source, with a warning', () => {
    const { config, warnings } = loadConfig({
      cwd: dirWithYaml('spring:\n  datasource:\n    url: jdbc:sqlite:alias.db\ndatabase:\n  url: real.db\n'),
      env: {},
    });
    expect(config.database.url).toBe('real.db');
    expect(warnings.join('\n')).toMatch(/database\.url.*spring\.datasource\.url|both/);
  });

  it('lets a higher source override through the alias', () => {
    const { config } = loadConfig({ cwd: dirWithYaml('database.url: yaml.db\n'), env: { SPRING_DATASOURCE_URL: 'env.db' } });
    expect(config.database.url).toBe('env.db');
  });

  it("ignores the original's other spring.* keys with a warning", () => {
    const { warnings } = loadConfig({ cwd: dirWithYaml('spring:\n  jpa:\n    hibernate:\n      ddl-auto: update\n'), env: {} });
    expect(warnings.join('\n')).toContain('spring.jpa.hibernate.ddl-auto');
  });

  it('stops on an unknown key, naming it', () => {
    expect(() => loadConfig({ cwd: dirWithYaml('server:\n  prot: 80\n'), env: {} })).toThrow(/server\.prot/);
    expect(() => loadConfig({ cwd: dirWithYaml(), env: {}, argv: ['--forward.tokn=x'] })).toThrow(ConfigError);
  });

  it('stops on a bad value, naming the key', () => {
    expect(() => loadConfig({ cwd: dirWithYaml(), env: { SERVER_PORT: 'eighty' } })).toThrow(/server\.port/);
    expect(() => loadConfig({ cwd: dirWithYaml(), env: {}, argv: ['--forward.url=ftp://x'] })).toThrow(/forward\.url/);
    expect(() => loadConfig({ cwd: dirWithYaml(), env: {}, argv: ['--server.shutdown-grace=soon'] })).toThrow(/server\.shutdown-grace/);
    expect(() => loadConfig({ cwd: dirWithYaml('server: [1, 2'), env: {} })).toThrow(/application\.yaml/);
  });
});

describe('forward.url', () => {
  it("accepts the original's full chat endpoint as well as a base URL", () => {
    expect(normaliseForwardUrl('https://api.openai.com/v1/chat/completions')).toEqual({ origin: 'https://api.openai.com', basePath: '/v1' });
    expect(normaliseForwardUrl('https://api.openai.com/v1/')).toEqual({ origin: 'https://api.openai.com', basePath: '/v1' });
    expect(normaliseForwardUrl('http://127.0.0.1:4000')).toEqual({ origin: 'http://127.0.0.1:4000', basePath: '' });
  });
});

describe('database.url', () => {
  it.each([
    ['openai-queries.db', 'openai-queries.db'],
    ['sqlite:data/q.db', 'data/q.db'],
    ['file:/tmp/q.db', '/tmp/q.db'],
    ['jdbc:sqlite:/var/lib/x/queries.db', '/var/lib/x/queries.db'],
  ])('reads %s as the SQLite file %s', (url, path) => {
    expect(parseDatabaseUrl(url)).toEqual({ kind: 'sqlite', path });
  });

  it('recognises PostgreSQL URLs', () => {
    expect(parseDatabaseUrl('postgresql://u@h:5432/db').kind).toBe('postgres');
  });
});
