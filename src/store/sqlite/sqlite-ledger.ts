import Database from 'better-sqlite3';
import type { LedgerReader, LedgerWriter, ModelRow, PriceRow, QueryTableRow, RateLimitTableRow } from '../ledger/ledger-tables.js';
import { LEDGER_SQL, toCounts } from '../sql/ledger-sql.js';
import { copyPriceSql } from '../sql/shared-statements.js';
import { rebuildSqliteRollup } from './migrations.js';
import { SQLITE_REPRICE_MODEL, sqliteInsertQuerySql } from './sqlite-pricing.js';

/** The ledger tables of an SQLite file whose schema is current (open it with openSqliteStore first). */
export function openSqliteLedger(path: string): LedgerReader & LedgerWriter {
  const db = new Database(path, { fileMustExist: true });
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  const insertQuery = db.prepare(sqliteInsertQuerySql(false));
  const insertModel = db.prepare(LEDGER_SQL.insertModel);
  const upsertRateLimit = db.prepare(LEDGER_SQL.upsertRateLimit);
  const repriceModel = db.prepare(SQLITE_REPRICE_MODEL);

  return {
    counts: async () => toCounts(db.prepare(LEDGER_SQL.counts).get() as Record<string, unknown>),
    models: async () => db.prepare(LEDGER_SQL.models).all() as ModelRow[],
    prices: async () => db.prepare(LEDGER_SQL.prices).all() as PriceRow[],
    rateLimits: async () => db.prepare(LEDGER_SQL.rateLimits).all() as RateLimitTableRow[],
    async *queries(batchSize: number) {
      const page = db.prepare(LEDGER_SQL.queriesAfter);
      let after = -1;
      for (;;) {
        const rows = page.all({ after, size: batchSize }) as QueryTableRow[];
        if (rows.length === 0) return;
        after = rows[rows.length - 1].id;
        yield rows;
      }
    },

    begin: async () => void db.exec('BEGIN IMMEDIATE'),
    async addModels(rows) {
      let added = 0;
      for (const r of rows) added += insertModel.run(r).changes;
      return added;
    },
    async addPrices(rows) {
      let added = 0;
      const models = new Set<string>();
      for (const r of rows) {
        if (db.prepare(copyPriceSql(r)).run(r).changes === 0) continue;
        added++;
        models.add(r.model);
      }
      for (const model of models) repriceModel.run({ model });
      return added;
    },
    async addRateLimits(rows) {
      for (const r of rows) upsertRateLimit.run(r);
    },
    async addQueries(rows) {
      for (const { id: _id, ...r } of rows) insertQuery.run(r);
    },
    // Rows and prices were written without the usage rollups: rebuilt from them before the copy commits.
    commit: async () => {
      rebuildSqliteRollup(db);
      db.exec('COMMIT');
    },
    rollback: async () => {
      if (db.inTransaction) db.exec('ROLLBACK');
    },
    close: async () => {
      if (db.open) db.close();
    },
  };
}
