import { join } from 'node:path';
import { throughput, CHAT_REQUEST, type ThroughputRun } from './measure.js';
import { createBenchDatabase, postgresUnreachable } from './postgres-database.js';
import type { Server } from './processes.js';
import { startProxy, type Target } from './servers.js';

const ADMIN_TOKEN = 'bench-admin-token';
const CHECKED_FLAGS = [`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'];

interface OvershootResult {
  calls: number;
  budgetUsd: number;
  callUsd: number;
  answered: number;
  spentUsd: number;
  /** Spent beyond the budget, in dollars and in calls (0 when within it). */
  overshootUsd: number;
  overshootCalls: number;
}

export interface AccessResult {
  /** Calls/s at 32 connections per round, without and with a key, a budget and a rate limit. */
  plain: ThroughputRun[];
  checked: ThroughputRun[];
  sqlite: OvershootResult;
  postgres?: OvershootResult;
  postgresSkipped?: string;
}

async function admin(target: Target, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${target.server!.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const price = (target: Target, per1K: number) =>
  admin(target, 'POST', `/model/${encodeURIComponent(CHAT_REQUEST.model)}`, {
    validFrom: '2024-01-01T00:00:00Z',
    per1KQueryTokens: per1K,
    per1KAnswerTokens: per1K,
  });

/**
 * The cost of being checked: the same load through a proxy whose caller
 * sends a key that carries a budget and a rate limit (never reached), and
 * through one that checks nothing, alternating rounds.
 */
async function checkedThroughput(opts: MeasureOptions): Promise<Pick<AccessResult, 'plain' | 'checked'>> {
  const plain = await startProxy({
    upstream: opts.upstream,
    dbPath: join(opts.workDir, 'plain.db'),
    workDir: opts.workDir,
    cpus: opts.cpus,
    name: 'proxy-plain',
  });
  const checkedProxy = await startProxy({
    upstream: opts.upstream,
    dbPath: join(opts.workDir, 'checked.db'),
    workDir: opts.workDir,
    cpus: opts.cpus,
    name: 'proxy-checked',
    proxyFlags: CHECKED_FLAGS,
  });
  try {
    await price(plain, 0.00015);
    await price(checkedProxy, 0.00015);
    const key = await admin(checkedProxy, 'POST', '/keys', {
      user: 'bench-user',
      budget: { usd: 1_000_000, period: 'month' },
      limits: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 },
    });
    const checked: Target = { ...checkedProxy, name: 'checked', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.key}` } };
    // The first checked call loads the tokenizer (a second or more): not within a timed run.
    const first = await fetch(checked.url, { method: 'POST', headers: checked.headers, body: JSON.stringify(CHAT_REQUEST) });
    if (first.status !== 200) throw new Error(`the first checked call failed: ${first.status} ${await first.text()}`);
    await first.arrayBuffer().catch(() => undefined);
    for (const t of [plain, checked]) await throughput(t, 8, 1, opts.clientCpus);
    const runs: Pick<AccessResult, 'plain' | 'checked'> = { plain: [], checked: [] };
    for (let round = 0; round < opts.rounds; round++) {
      runs.plain.push(await throughput(plain, 32, opts.seconds, opts.clientCpus));
      runs.checked.push(await throughput(checked, 32, opts.seconds, opts.clientCpus));
    }
    return runs;
  } finally {
    await plain.server!.stop();
    await checkedProxy.server!.stop();
  }
}

/** A prompt longer than the stand-in's reported 215 tokens, so every reservation is a true upper bound of the cost. */
const OVERSHOOT_REQUEST = JSON.stringify({
  model: CHAT_REQUEST.model,
  max_tokens: 200,
  messages: [{ role: 'user', content: 'Count the words of this sentence please. '.repeat(40) }],
});

/**
 * 64 calls at once through two instances on one database, against a budget
 * that covers 32 of them; the recorded spend is compared with the budget.
 */
async function overshoot(databaseUrl: string, opts: MeasureOptions, label: string): Promise<OvershootResult> {
  const start = (n: number) =>
    startProxy({
      upstream: opts.upstream,
      dbPath: databaseUrl,
      workDir: opts.workDir,
      cpus: opts.cpus,
      name: `proxy-${label}-${n}`,
      // Each instance keeps its own journal, as every instance must.
      proxyFlags: [...CHECKED_FLAGS, `--journal.path=${join(opts.workDir, `${label}-${n}.journal`)}`],
    });
  const instances = [await start(1), await start(2)];
  try {
    await price(instances[0], 1);
    const call = (target: Target, key: string) =>
      fetch(`http://127.0.0.1:${target.server!.port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: OVERSHOOT_REQUEST,
      }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      });
    const calibration = await admin(instances[0], 'POST', '/keys', { user: 'calibration' });
    if ((await call(instances[0], calibration.key)) !== 200) throw new Error('the calibration call failed');
    const callUsd = (await admin(instances[0], 'GET', `/usage?key=${calibration.id}`)).cost as number;
    const budgetUsd = 32 * callUsd;
    const limited = await admin(instances[0], 'POST', '/keys', { user: 'bench-user', budget: { usd: budgetUsd, period: 'day' } });
    const statuses = await Promise.all(Array.from({ length: 64 }, (_, i) => call(instances[i % 2], limited.key)));
    const unexpected = statuses.filter((s) => s !== 200 && s !== 429);
    if (unexpected.length) throw new Error(`${label}: ${unexpected.length} calls answered ${unexpected[0]}`);
    const spentUsd = (await admin(instances[1], 'GET', `/usage?key=${limited.id}`)).cost as number;
    const overshootUsd = Math.max(0, spentUsd - budgetUsd);
    return {
      calls: 64,
      budgetUsd,
      callUsd,
      answered: statuses.filter((s) => s === 200).length,
      spentUsd,
      overshootUsd,
      overshootCalls: overshootUsd / callUsd,
    };
  } finally {
    for (const i of instances) await i.server!.stop();
  }
}

interface MeasureOptions {
  upstream: Server;
  workDir: string;
  rounds: number;
  seconds: number;
  cpus?: string;
  clientCpus?: string;
  log: (line: string) => void;
}

export async function measureAccess(opts: MeasureOptions): Promise<AccessResult> {
  opts.log(`access control: throughput with a key, a budget and a rate limit vs none, 32 connections, ${opts.rounds} rounds`);
  const runs = await checkedThroughput(opts);
  opts.log('access control: budget overshoot, 64 calls at once through two instances on one SQLite file');
  const sqlite = await overshoot(join(opts.workDir, 'overshoot.db'), opts, 'sqlite');
  const unreachable = await postgresUnreachable();
  if (unreachable) return { ...runs, sqlite, postgresSkipped: unreachable };
  opts.log('access control: budget overshoot, 64 calls at once through two instances on one PostgreSQL database');
  const db = await createBenchDatabase();
  try {
    return { ...runs, sqlite, postgres: await overshoot(db.url, opts, 'postgres') };
  } finally {
    await db.drop();
  }
}
