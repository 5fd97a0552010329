import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseDatabaseUrl, type DatabaseTarget } from '../store/database-url.js';
import type { LedgerReader, LedgerWriter } from '../store/ledger/ledger-tables.js';
import { openPostgresLedger } from '../store/postgres/pg-ledger.js';
import { maskUrlPassword } from '../config/shown-value.js';
import { describeConnectError } from '../store/postgres/pg-pool.js';
import { openPostgresStore } from '../store/postgres/pg-store.js';
import type { ImportReport } from '../store/sqlite/import-original.js';
import { openSqliteLedger } from '../store/sqlite/sqlite-ledger.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { errorText } from '../common/error-text.js';

/** A refusal or failure with a message meant for the person running the command. */
export class MigrateDataError extends Error {}

export interface CopyOptions {
  from: string;
  to: string;
  /** Add to a target that already holds a ledger; without it such a target is refused. */
  append?: boolean;
  progress?: (line: string) => void;
  batchSize?: number;
}

export interface CopyReport {
  queries: number;
  /** Prices copied, and prices the target had already (same model, source and validFrom), which were kept. */
  prices: number;
  pricesKept: number;
  models: number;
  rateLimits: number;
  /** When the source was the original Java proxy's database: what its import found. */
  originalImport?: ImportReport;
}

/**
 * Copies queries, models, prices and rate limits from one ledger to another
 * (SQLite file or PostgreSQL database, either way), in one transaction on the
 * target. The source is never changed: an SQLite source is read from a copy,
 * which is also where the original Java proxy's tables are imported, by the
 * same code that imports them when the proxy starts on such a file. Queries
 * are priced by the target's prices as they are inserted, so their costs
 * match the prices the target ends up with.
 */
export async function copyLedger({ from, to, append = false, progress = () => undefined, batchSize = 5_000 }: CopyOptions): Promise<CopyReport> {
  const source = parseTarget('--from', from);
  const target = parseTarget('--to', to);
  if (sameDatabase(source, target)) throw new MigrateDataError('--from and --to name the same database');

  const opened = await openSource(source);
  try {
    const writer = await openTarget(target);
    try {
      const before = await writer.counts();
      if (!append && (before.queries > 0 || before.adminPrices > 0)) {
        throw new MigrateDataError(
          `${describe(target)} already holds a ledger (${before.queries} queries, ${before.adminPrices} admin prices); ` +
            'migrate-data copies into an empty one. Pass --append to add to it: prices it already has are kept, ' +
            'and every copied query is priced by its prices.',
        );
      }
      const report = await copyTables(opened.reader, writer, batchSize, progress);
      return { ...report, originalImport: opened.originalImport };
    } finally {
      await writer.close();
    }
  } finally {
    await opened.close();
  }
}

async function copyTables(reader: LedgerReader, writer: LedgerWriter, batchSize: number, progress: (line: string) => void) {
  const total = await reader.counts();
  await writer.begin();
  try {
    const models = await writer.addModels(await reader.models());
    const priceRows = await reader.prices();
    const prices = await writer.addPrices(priceRows);
    const rateLimitRows = await reader.rateLimits();
    await writer.addRateLimits(rateLimitRows);
    let queries = 0;
    for await (const batch of reader.queries(batchSize)) {
      await writer.addQueries(batch);
      queries += batch.length;
      progress(`copied ${queries} of ${total.queries} queries`);
    }
    await writer.commit();
    return { queries, prices, pricesKept: priceRows.length - prices, models, rateLimits: rateLimitRows.length };
  } catch (err) {
    await writer.rollback().catch(() => undefined);
    throw err;
  }
}

function parseTarget(flag: string, url: string): DatabaseTarget {
  try {
    return parseDatabaseUrl(url);
  } catch (err) {
    throw new MigrateDataError(`${flag}: ${errorText(err)}`);
  }
}

function sameDatabase(a: DatabaseTarget, b: DatabaseTarget): boolean {
  if (a.kind === 'sqlite' && b.kind === 'sqlite') return a.path === b.path;
  if (a.kind === 'postgres' && b.kind === 'postgres') return a.url === b.url;
  return false;
}

const describe = (t: DatabaseTarget) => (t.kind === 'sqlite' ? t.path : maskUrlPassword(t.url));

interface OpenedSource {
  reader: LedgerReader;
  originalImport?: ImportReport;
  close(): Promise<void>;
}

async function openSource(source: DatabaseTarget): Promise<OpenedSource> {
  if (source.kind === 'postgres') {
    await requirePostgresLedger(source.url);
    try {
      await (await openPostgresStore({ url: source.url })).close();
    } catch (err) {
      throw new MigrateDataError(`--from: ${errorText(err)}`);
    }
    const reader = await openPostgresLedger(source.url);
    return { reader, close: () => reader.close() };
  }
  if (!existsSync(source.path)) throw new MigrateDataError(`--from: no such file: ${source.path}`);
  const dir = mkdtempSync(join(tmpdir(), 'oap-migrate-'));
  try {
    const copy = join(dir, 'source.db');
    await snapshotSqlite(source.path, copy);
    const store = await openSqliteStore({ path: copy });
    await store.close();
    const reader = openSqliteLedger(copy);
    return {
      reader,
      originalImport: store.importReport,
      close: async () => {
        await reader.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A consistent copy of an SQLite file (even while a proxy writes it), after checking it holds a ledger. */
async function snapshotSqlite(path: string, copy: string): Promise<void> {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new MigrateDataError(`--from: cannot open ${path}: ${errorText(err)}`);
  }
  try {
    let tables: Set<string>;
    try {
      tables = new Set(db.prepare("SELECT lower(name) FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    } catch (err) {
      throw new MigrateDataError(`--from: ${path} is not an SQLite database (${errorText(err)})`);
    }
    const ours = tables.has('queries') && tables.has('proxy_schema');
    const original = ['query', 'cost', 'model'].every((t) => tables.has(t));
    if (!ours && !original) {
      throw new MigrateDataError(`--from: ${path} holds no ledger: neither this proxy's tables nor the original Java proxy's (user, model, query, cost)`);
    }
    await db.backup(copy);
  } finally {
    db.close();
  }
}

async function requirePostgresLedger(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  // A connection that breaks fails the statement in flight, which reports it; unlistened, the event would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new MigrateDataError(`--from: ${describeConnectError(url, err)}`);
  }
  try {
    const { rows } = await client.query<{ t: string | null }>("SELECT to_regclass('proxy_schema')::text AS t");
    if (rows[0].t === null) throw new MigrateDataError(`--from: ${maskUrlPassword(url)} holds no ledger (no proxy_schema table)`);
  } finally {
    await client.end();
  }
}

/** The target with its schema created or brought up to date, exactly as the proxy does at start-up. */
async function openTarget(target: DatabaseTarget): Promise<LedgerWriter> {
  if (target.kind === 'postgres') {
    try {
      await (await openPostgresStore({ url: target.url })).close();
    } catch (err) {
      throw new MigrateDataError(`--to: ${errorText(err)}`);
    }
    return openPostgresLedger(target.url);
  }
  try {
    await (await openSqliteStore({ path: target.path })).close();
  } catch (err) {
    throw new MigrateDataError(`--to: cannot use ${target.path}: ${errorText(err)}`);
  }
  return openSqliteLedger(target.path);
}
