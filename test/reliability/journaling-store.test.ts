import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { encodeJournalEntry, newJournalEntry } from '../../src/store/journal/journal-entry.js';
import { JournalingStore } from '../../src/store/journal/journaling-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { QueryRecord, QueryRow, Store } from '../../src/store/types.js';
import { FaultyStore } from '../support/faulty-store.js';
import { SmallDisk } from '../support/small-disk.js';

const log = pino({ level: 'silent' });
let dir: string;
let dbPath: string;
let journalPath: string;
const open: Store[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oap-journal-'));
  dbPath = join(dir, 'queries.db');
  journalPath = join(dir, 'queries.journal');
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const record = (user: string, promptTokens = 10): QueryRecord => ({
  user,
  timestamp: Date.UTC(2024, 0, 1),
  durationMs: 5,
  endpoint: '/v1/chat/completions',
  requestedModel: 'gpt-4o',
  model: 'gpt-4o',
  status: 200,
  outcome: 'ok',
  promptTokens,
  completionTokens: 3,
  cachedTokens: 0,
  reasoningTokens: 0,
  streamed: false,
  estimated: false,
});

async function openStores(opts: { retryMaxMs?: number } = {}) {
  const sqlite = await openSqliteStore({ path: dbPath });
  const faulty = new FaultyStore(sqlite);
  const store = await JournalingStore.open(faulty, { journalPath, log, retryInitialMs: 20, retryMaxMs: opts.retryMaxMs ?? 50 });
  open.push(store);
  return { faulty, store };
}

async function rowsOf(store: Store): Promise<QueryRow[]> {
  const rows: QueryRow[] = [];
  for await (const batch of store.queries({ status: 'all' }, {})) rows.push(...batch);
  return rows;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting until ${what}`);
}

const journalLines = () => readFileSync(journalPath, 'utf8').split('\n').filter(Boolean);

describe('journaling store', () => {
  it('writes straight to the database while it works, leaving the journal empty', async () => {
    const { store } = await openStores();
    await store.recordQuery(record('ann'));
    expect(statSync(journalPath).size).toBe(0);
    expect(store.health()).toMatchObject({ status: 'ok', acceptingCalls: true, journal: { pending: 0, writable: true } });
    expect((await rowsOf(store)).map((r) => r.user)).toEqual(['ann']);
  });

  it('keeps calls in the journal while the database fails, and replays them once it works again', async () => {
    const { faulty, store } = await openStores();
    faulty.failWrites = true;
    const result = await store.recordQuery(record('bob', 11));
    await store.recordQuery(record('cid', 12));
    expect(result.journaled).toBe(true);
    expect(journalLines()).toHaveLength(2);
    expect(store.health()).toMatchObject({
      status: 'degraded',
      acceptingCalls: true,
      database: { writable: false, lastError: expect.stringContaining('disk is full') },
      journal: { pending: 2 },
    });

    faulty.failWrites = false;
    await until(() => store.health().journal.pending === 0 && statSync(journalPath).size === 0, 'the journal is replayed and emptied');
    const rows = await rowsOf(store);
    expect(rows.map((r) => [r.user, r.promptTokens])).toEqual([
      ['bob', 11],
      ['cid', 12],
    ]);
    expect(store.health().status).toBe('ok');
  });

  it('does not insert an entry twice when a crash interrupted its replay', async () => {
    // A first run replayed both entries into the database but died before emptying the journal.
    const entries = [newJournalEntry(record('dan', 21)), newJournalEntry(record('eve', 22))];
    writeFileSync(journalPath, Buffer.concat(entries.map(encodeJournalEntry)));
    const first = await openSqliteStore({ path: dbPath });
    for (const e of entries) await first.recordQuery({ ...e.query, journalId: e.id });
    await first.close();

    const { store } = await openStores();
    await store.runPass();
    expect(store.health().journal.pending).toBe(0);
    const rows = await rowsOf(store);
    expect(rows.map((r) => r.user)).toEqual(['dan', 'eve']);
    expect(statSync(journalPath).size).toBe(0);
  });

  it('replays a journal left by an earlier run in the background from start-up', async () => {
    writeFileSync(journalPath, encodeJournalEntry(newJournalEntry(record('fay', 31))));
    const { store } = await openStores();
    // The pass open() started; open() itself does not wait for it.
    await store.runPass();
    expect((await rowsOf(store)).map((r) => [r.user, r.promptTokens])).toEqual([['fay', 31]]);
    expect(store.health().journal.pending).toBe(0);
  });

  it('cuts off a line a crash left unfinished, and keeps the whole lines before it', async () => {
    const whole = encodeJournalEntry(newJournalEntry(record('gil', 41)));
    const torn = encodeJournalEntry(newJournalEntry(record('hal', 42))).subarray(0, 30);
    writeFileSync(journalPath, Buffer.concat([whole, torn]));
    const { faulty, store } = await openStores();
    await store.runPass();
    expect((await rowsOf(store)).map((r) => r.user)).toEqual(['gil']);
    // The next append starts on a fresh line, not glued to the torn one.
    faulty.failWrites = true;
    await store.recordQuery(record('ian', 43));
    expect(journalLines().map((l) => JSON.parse(l).query.user)).toEqual(['ian']);
  });

  it('skips a line that is not a journal entry, says so, and replays the rest', async () => {
    appendFileSync(journalPath, '{"not":"an entry"}\n');
    appendFileSync(journalPath, encodeJournalEntry(newJournalEntry(record('jo', 51))));
    const { store } = await openStores();
    await store.runPass();
    expect((await rowsOf(store)).map((r) => r.user)).toEqual(['jo']);
  });

  it('refuses to open a journal another live process holds', async () => {
    writeFileSync(`${journalPath}.lock`, String(process.ppid));
    const sqlite = await openSqliteStore({ path: dbPath });
    open.push(sqlite);
    await expect(JournalingStore.open(sqlite, { journalPath, log })).rejects.toThrow(/in use by process/);
  });

  it('takes over the lock of a process that is gone (kill -9)', async () => {
    writeFileSync(`${journalPath}.lock`, '2147483646');
    const { store } = await openStores();
    expect(readFileSync(`${journalPath}.lock`, 'utf8')).toBe(String(process.pid));
    await store.close();
    expect(() => statSync(`${journalPath}.lock`)).toThrow();
  });
});

describe('journaling store on a full disk', () => {
  let disk: SmallDisk | undefined;
  beforeEach(() => {
    disk = SmallDisk.mount(join(dir, 'small'));
    journalPath = join(dir, 'small', 'queries.journal');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    disk?.unmount();
  });

  it('rejects the commit and stops accepting calls when the journal cannot be written either; recovers when the journal can', async (ctx) => {
    if (!disk) return ctx.skip();
    const { faulty, store } = await openStores();
    faulty.failWrites = true;
    disk.fill();
    await expect(store.recordQuery(record('kim', 61))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(store.canCommit()).toBe(false);
    expect(store.health()).toMatchObject({
      acceptingCalls: false,
      unsaved: 1,
      journal: { writable: false, lastError: expect.stringContaining('ENOSPC') },
    });

    disk.free();
    await until(() => store.canCommit(), 'the journal takes the held call');
    expect(journalLines().map((l) => JSON.parse(l).query.user)).toEqual(['kim']);
    faulty.failWrites = false;
    await until(() => store.health().status === 'ok', 'the journal is replayed');
    expect((await rowsOf(store)).map((r) => [r.user, r.promptTokens])).toEqual([['kim', 61]]);
  });

  it('recovers as soon as the database takes writes again, even while the journal still cannot', async (ctx) => {
    if (!disk) return ctx.skip();
    const { faulty, store } = await openStores();
    faulty.failWrites = true;
    disk.fill();
    await expect(store.recordQuery(record('lee', 71))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(store.canCommit()).toBe(false);

    faulty.failWrites = false;
    await until(() => store.canCommit(), 'the database takes the held call');
    expect((await rowsOf(store)).map((r) => r.user)).toEqual(['lee']);
    expect(store.health()).toMatchObject({ unsaved: 0, database: { writable: true } });
  });

  it('leaves no torn line behind when a batch of appends fails part way', async (ctx) => {
    if (!disk) return ctx.skip();
    const { faulty, store } = await openStores();
    faulty.failWrites = true;
    // A first line that ends 100 bytes short of a page: tmpfs then has room for 100 bytes of the next batch only.
    const base = encodeJournalEntry(newJournalEntry(record(''))).length;
    await store.recordQuery(record('m'.repeat(4096 - 100 - base), 81));
    expect(statSync(journalPath).size).toBe(4096 - 100);
    disk.fill();
    const results = await Promise.allSettled([store.recordQuery(record('ned', 82)), store.recordQuery(record('oz', 83))]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(readFileSync(journalPath, 'utf8').endsWith('\n')).toBe(true);
    expect(statSync(journalPath).size).toBe(4096 - 100);
    disk.free();
    faulty.failWrites = false;
    await until(() => store.health().status === 'ok', 'everything is in the database');
    expect((await rowsOf(store)).map((r) => r.promptTokens).sort()).toEqual([81, 82, 83]);
  });
});
