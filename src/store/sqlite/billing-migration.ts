import type Database from 'better-sqlite3';
import { fineTunedPriceNames } from '../../accounting/fine-tuned-names.js';
import { billingSchemaSql } from '../sql/billing-schema-sql.js';

/** SQLite's DDL of the billing schema (billing-schema-sql.ts), plus what only SQLite has: the rollup's own columns. */
export const SQLITE_BILLING_DDL = [
  ...billingSchemaSql('sqlite'),
  "ALTER TABLE usage_rollup ADD COLUMN ft_base_model TEXT NOT NULL DEFAULT ''",
  'ALTER TABLE usage_rollup ADD COLUMN tier_fallback INTEGER NOT NULL DEFAULT 0',
].join(';\n');

/** Rows of fine-tuned models recorded before the billing schema get the names fine-tuned pricing looks up. */
export function nameFineTunedRows(db: Database.Database): void {
  db.function('oap_fine_tuned_base', { deterministic: true }, (model: unknown) => fineTunedPriceNames(String(model))?.baseRates ?? '');
  db.exec(`UPDATE queries SET ft_base_model = oap_fine_tuned_base(model), base_model = 'ft:' || oap_fine_tuned_base(model)
    WHERE model LIKE 'ft:%' AND oap_fine_tuned_base(model) <> ''`);
}
