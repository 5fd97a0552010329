import type { RecordColumn } from '../sql/insert-query-sql.js';

/**
 * The ledger as table rows, for copying it between databases (migrate-data).
 * Both stores use the same tables and columns, so one row shape serves both;
 * query costs are not copied but priced again by the target's prices.
 */
export interface ModelRow {
  name: string;
  first_seen: number;
}

/** A price row of either price table: `tier` NULL for the default tier, rate columns as in the tables. */
export type PriceRow = { model: string; source: string; tier: string | null; valid_from: number } & Record<string, string | number | null>;

export interface RateLimitTableRow {
  kind: string;
  maximum: number | null;
  remaining: number | null;
  reset: number | null;
  observed_at: number;
}

export type QueryTableRow = { id: number } & Record<RecordColumn, string | number | null>;

interface LedgerCounts {
  queries: number;
  adminPrices: number;
  catalogPrices: number;
  models: number;
}

export interface LedgerReader {
  counts(): Promise<LedgerCounts>;
  models(): Promise<ModelRow[]>;
  prices(): Promise<PriceRow[]>;
  rateLimits(): Promise<RateLimitTableRow[]>;
  /** Every query, in id order, in batches. */
  queries(batchSize: number): AsyncIterable<QueryTableRow[]>;
  close(): Promise<void>;
}

/** Writes go into one transaction, from begin() to commit(): a copy lands whole or not at all. */
export interface LedgerWriter {
  counts(): Promise<LedgerCounts>;
  begin(): Promise<void>;
  /** Inserts models not there yet; returns how many were new. */
  addModels(rows: ModelRow[]): Promise<number>;
  /** Inserts prices whose (model, source, valid_from) is not there yet, and re-prices the queries they cover; returns how many were new. */
  addPrices(rows: PriceRow[]): Promise<number>;
  /** Newest observation wins, as when the proxy writes them. */
  addRateLimits(rows: RateLimitTableRow[]): Promise<void>;
  /** Inserts queries priced by the target's prices (as the proxy prices a new call). */
  addQueries(rows: QueryTableRow[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}
