import { namedParameter, pricedInsertSql } from '../sql/insert-query-sql.js';
import { MODEL_ROWS, type PriceLookup, repriceAssignment } from '../sql/pricing-sql.js';

/**
 * SQLite's pricing SQL, from the shared builders with SQLite's price lookup:
 * one descent of a price table's primary key per candidate, where the
 * portable sorted UNION cost more than the rest of the insert's pricing
 * (pricing-sql.ts). Every SQLite statement that prices a row, on insert or
 * re-price, comes from here, so they all choose a price the same way.
 */
const LOOKUP: PriceLookup = 'indexed';

/** The priced insert of one query from named parameters (recordValues); with `journaled`, skips a replayed entry (@journal_id). */
export const sqliteInsertQuerySql = (journaled: boolean): string => pricedInsertSql(namedParameter, '', journaled ? '@journal_id' : undefined, LOOKUP);

/** `SET (cost, priced, price_fallback) = ...` re-pricing stored rows. */
export const SQLITE_REPRICE_ASSIGNMENT = repriceAssignment(LOOKUP);

/** Every stored query a price of @model can apply to, re-priced. */
export const SQLITE_REPRICE_MODEL = `UPDATE queries SET ${SQLITE_REPRICE_ASSIGNMENT} WHERE ${MODEL_ROWS}`;
