import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { startProxy, type RunningProxy } from '../src/server/start-proxy.js';

/** A database as the original Java proxy (Hibernate, sqlite-jdbc) left it. */
function originalDatabase(path: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE user (name TEXT PRIMARY KEY);
    CREATE TABLE model (name TEXT PRIMARY KEY);
    CREATE TABLE query (id INTEGER PRIMARY KEY, user_name TEXT REFERENCES user, model_name TEXT REFERENCES model,
      query_tokens INTEGER, answer_tokens INTEGER, timestamp INTEGER NOT NULL);
    CREATE TABLE cost (id INTEGER PRIMARY KEY, model_name TEXT NOT NULL REFERENCES model, valid_from INTEGER NOT NULL,
      per1kquery_tokens REAL, per1kanswer_tokens REAL);
    CREATE TABLE ratelimit (type TEXT PRIMARY KEY, maximum INTEGER, remaining INTEGER, reset INTEGER);
    CREATE TABLE query_seq (next_val INTEGER);
    INSERT INTO user VALUES ('adam'), ('eve');
    INSERT INTO model VALUES ('gpt-4-1106-preview'), ('gpt-3.5-turbo');
    INSERT INTO cost VALUES (1, 'gpt-4-1106-preview', ${Date.parse('2023-11-06T00:00:00Z')}, 0.01, 0.03);
    INSERT INTO cost VALUES (2, 'gpt-4-1106-preview', ${Date.parse('2023-11-06T00:00:00Z')}, 0.01, 0.03);
    INSERT INTO query VALUES (1, 'adam', 'gpt-4-1106-preview', 3243, 1399, ${Date.parse('2024-01-25T13:18:05.205Z')});
    INSERT INTO query VALUES (2, 'adam', 'gpt-4-1106-preview', 1218, 477, ${Date.parse('2024-01-25T13:22:25.648Z')});
    INSERT INTO query VALUES (3, 'eve', 'gpt-3.5-turbo', 10, 20, ${Date.parse('2024-01-26T08:00:00Z')});
    INSERT INTO ratelimit VALUES ('requests', 500, 499, ${Date.parse('2024-01-25T13:27:03.440Z')});
  `);
  db.close();
}

let proxy: RunningProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

async function startOn(dir: string, env: Record<string, string>) {
  const { config } = loadConfig({ cwd: dir, env, argv: ['--server.port=0', '--forward.url=http://127.0.0.1:9/v1', '--prices.catalog=false'] });
  return startProxy(config, pino({ level: 'silent' }));
}

describe("the original Java proxy's database", () => {
  it('is imported at start-up through SPRING_DATASOURCE_URL, after a backup, losing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oap-original-'));
    const path = join(dir, 'queries.db');
    originalDatabase(path);
    proxy = await startOn(dir, { SPRING_DATASOURCE_URL: `jdbc:sqlite:${path}` });

    const backups = readdirSync(dir).filter((f) => f.includes('before-import'));
    expect(backups).toHaveLength(1);
    const backup = new Database(join(dir, backups[0]), { readonly: true });
    expect((backup.prepare('SELECT COUNT(*) AS n FROM query').get() as { n: number }).n).toBe(3);
    backup.close();

    const rows = await (await fetch(`${proxy.url}/queries`)).json();
    expect(rows.map((r: any) => [r.user, r.model, r.timestamp, r.queryTokens, r.answerTokens])).toEqual([
      ['adam', 'gpt-4-1106-preview', '2024-01-25T13:18:05.205Z', 3243, 1399],
      ['adam', 'gpt-4-1106-preview', '2024-01-25T13:22:25.648Z', 1218, 477],
      ['eve', 'gpt-3.5-turbo', '2024-01-26T08:00:00.000Z', 10, 20],
    ]);
    expect(rows[0].cost).toBeCloseTo(0.07440000000000001, 12);
    expect(rows[1].cost).toBeCloseTo(0.02649, 12);
    const usage = await (await fetch(`${proxy.url}/usage?user=adam`)).json();
    expect(usage.cost).toBeCloseTo(0.07440000000000001 + 0.02649, 12);
    const model = await (await fetch(`${proxy.url}/model/gpt-4-1106-preview`)).json();
    expect(model.costs).toEqual([{ validFrom: '2023-11-06T00:00:00.000Z', per1KQueryTokens: 0.01, per1KAnswerTokens: 0.03 }]);
    expect((await (await fetch(`${proxy.url}/models`)).json()).map((m: any) => m.name).sort()).toEqual(['gpt-3.5-turbo', 'gpt-4-1106-preview']);
    expect((await (await fetch(`${proxy.url}/ratelimits`)).json()).requests).toEqual({ maximum: 500, remaining: 499, reset: '2024-01-25T13:27:03.440Z' });
  });

  it('is imported once: a restart does not duplicate the history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oap-original-'));
    const path = join(dir, 'queries.db');
    originalDatabase(path);
    proxy = await startOn(dir, { DATABASE_URL: path });
    await proxy.stop();
    proxy = await startOn(dir, { DATABASE_URL: path });
    expect(await (await fetch(`${proxy.url}/queries`)).json()).toHaveLength(3);
    expect(readdirSync(dir).filter((f) => f.includes('before-import'))).toHaveLength(1);
    expect(existsSync(path)).toBe(true);
  });
});
