import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultyStore } from '../support/faulty-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';
import { SmallDisk } from '../support/small-disk.js';
import { STAND_IN_USAGE } from '../support/upstream-stand-in.js';

let h: Harness | undefined;
let disk: SmallDisk | undefined;
let smallDir: string | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  disk?.unmount();
  disk = undefined;
  if (smallDir) rmSync(smallDir, { recursive: true, force: true });
  smallDir = undefined;
});

/** A small filesystem of its own, and a directory beside it on the normal disk. */
function smallDisk(size?: string): { disk?: SmallDisk; small: string; roomy: string } {
  smallDir = mkdtempSync(join(tmpdir(), 'oap-small-'));
  disk = SmallDisk.mount(join(smallDir, 'small'), size);
  return { disk, small: join(smallDir, 'small'), roomy: smallDir };
}

const client = (url: string, user: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': user }, maxRetries: 0 });

async function plainAndStreamed(url: string, user: string): Promise<string[]> {
  const c = client(url, user);
  const plain = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const stream = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
  return [plain.choices[0].message.content ?? '', streamed];
}

async function health(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: await res.json() };
}

async function rows(url: string): Promise<Record<string, any>[]> {
  const res = await fetch(`${url}/queries?status=all`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>[];
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting until ${what}`);
}

describe('the database fails: calls keep working and nothing is lost', () => {
  it('answers every call while database writes fail, reports degraded health, and replays into the database once it works', async () => {
    let faulty!: FaultyStore;
    h = await startHarness([], { wrapStore: (s) => (faulty = new FaultyStore(s)) });
    faulty.failWrites = true;

    for (const user of ['ann', 'bob']) expect(await plainAndStreamed(h.url, user)).toEqual(['Hello from the stand-in.', 'Hello from the stand-in.']);
    const degraded = await health(h.url);
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({
      status: 'degraded',
      acceptingCalls: true,
      database: { writable: false, lastError: expect.stringContaining('disk is full') },
      journal: { pending: 4, writable: true },
    });
    const journal = readFileSync(degraded.body.journal.path, 'utf8').trim().split('\n');
    expect(journal.map((l) => JSON.parse(l).query.user)).toEqual(['ann', 'ann', 'bob', 'bob']);

    faulty.failWrites = false;
    await until(async () => (await health(h!.url)).body.status === 'ok', 'health is ok again');
    const recorded = await rows(h.url);
    expect(recorded.map((r) => [r.user, r.streamed, r.queryTokens, r.answerTokens])).toEqual([
      ['ann', false, STAND_IN_USAGE.prompt_tokens, STAND_IN_USAGE.completion_tokens],
      ['ann', true, STAND_IN_USAGE.prompt_tokens, STAND_IN_USAGE.completion_tokens],
      ['bob', false, STAND_IN_USAGE.prompt_tokens, STAND_IN_USAGE.completion_tokens],
      ['bob', true, STAND_IN_USAGE.prompt_tokens, STAND_IN_USAGE.completion_tokens],
    ]);
    expect(statSync(degraded.body.journal.path).size).toBe(0);
    // Cost is computed when the row is replayed, with the prices of the call's time.
    expect(recorded.every((r) => r.estimated === false)).toBe(true);
  });

  it('answers 503 JSON on admin reads and writes while the database fails, and stays up', async () => {
    let faulty!: FaultyStore;
    h = await startHarness([], { wrapStore: (s) => (faulty = new FaultyStore(s)) });
    faulty.failReads = true;
    faulty.failWrites = true;
    const usage = await fetch(`${h.url}/usage`);
    expect(usage.status).toBe(503);
    expect(await usage.json()).toMatchObject({ status: 503, code: 'database_unavailable', message: expect.stringContaining('database') });
    const price = await fetch(`${h.url}/model/gpt-4o`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 1 }),
    });
    expect(price.status).toBe(503);
    expect(h.logs.join('')).toContain('disk I/O error (injected)');
    faulty.failReads = false;
    expect((await fetch(`${h.url}/usage`)).status).toBe(200);
  });
});

describe('the database and the journal both fail: new calls are refused before forwarding', () => {
  it('breaks off the answer it could not record, refuses new calls with 503, and recovers by itself', async (ctx) => {
    let faulty!: FaultyStore;
    const { small } = smallDisk();
    if (!disk) return ctx.skip();
    h = await startHarness([`--journal.path=${join(small, 'q.journal')}`], { wrapStore: (s) => (faulty = new FaultyStore(s)) });
    faulty.failWrites = true;
    disk.fill();

    // Answered by the upstream but recorded nowhere: the caller must not see a complete answer.
    const unrecorded = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('cy'), body: chatBody() });
    expect(unrecorded.complete).toBe(false);
    const forwardedBefore = h.upstream.received.length;

    const refused = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('dee'), body: chatBody({ stream: true }) });
    expect(refused.status).toBe(503);
    expect(refused.json().error).toMatchObject({ code: 'cannot_record', message: expect.stringContaining('nothing was forwarded') });
    expect(h.upstream.received.length).toBe(forwardedBefore);
    const down = await health(h.url);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ acceptingCalls: false, unsaved: 1, journal: { writable: false } });

    disk.free();
    await until(async () => (await health(h!.url)).status === 200, 'calls are accepted again');
    expect(await plainAndStreamed(h.url, 'dee')).toHaveLength(2);
    faulty.failWrites = false;
    await until(async () => (await health(h!.url)).body.status === 'ok', 'everything is in the database');
    expect((await rows(h.url)).map((r) => r.user)).toEqual(['cy', 'dee', 'dee']);
  });

  it('keeps calls in the journal when the SQLite file itself is on a full disk (SQLITE_FULL), then replays them', async (ctx) => {
    const { small, roomy } = smallDisk('4m');
    if (!disk) return ctx.skip();
    h = await startHarness([`--database.url=${join(small, 'q.db')}`, `--journal.path=${join(roomy, 'q.journal')}`]);
    await plainAndStreamed(h.url, 'warmup');
    disk.fill();

    const users = Array.from({ length: 30 }, (_, i) => `full-${i}`);
    for (const user of users) await plainAndStreamed(h.url, user);
    const during = await health(h.url);
    expect(during.body).toMatchObject({ status: 'degraded', acceptingCalls: true, database: { writable: false } });
    expect(during.body.database.lastError).toMatch(/full/i);
    expect(during.body.journal.pending).toBeGreaterThan(0);

    disk.free();
    await until(async () => (await health(h!.url)).body.status === 'ok', 'the journal is replayed');
    const recorded = await rows(h.url);
    const perUser = new Map<string, number>();
    for (const r of recorded) perUser.set(r.user, (perUser.get(r.user) ?? 0) + 1);
    for (const user of ['warmup', ...users]) expect(perUser.get(user), user).toBe(2);
    expect(recorded).toHaveLength(2 * (users.length + 1));
  });
});
