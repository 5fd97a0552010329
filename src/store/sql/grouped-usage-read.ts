import { TooManyGroupsError } from '../errors.js';
import type { QueryFilter, UsageGroup, UsageGrouping } from '../types.js';
import { HISTORY_SPAN_SQL, groupedUsageSql } from './grouped-usage-sql.js';
import { toUsage } from './rows.js';

type Rows = (sql: string, params: Record<string, unknown>) => Promise<Record<string, unknown>[]> | Record<string, unknown>[];

/** Grouped usage through a store's own way of running SQL; `rollups` says whether it keeps usage_rollup. */
export async function readUsageGroups(rows: Rows, filter: QueryFilter, grouping: UsageGrouping, rollups: boolean): Promise<UsageGroup[]> {
  const [history] = await rows(HISTORY_SPAN_SQL, {});
  if (history?.oldest === null || history?.oldest === undefined) return [];
  const read = groupedUsageSql(filter, grouping, { oldest: Number(history.oldest), newest: Number(history.newest) }, { rollups });
  if (!read) return [];
  const result = await rows(read.sql, read.params);
  if (result.length > grouping.maxGroups) throw new TooManyGroupsError(grouping.maxGroups);
  return result.map((row) => ({ keys: read.keysOf(row), usage: toUsage(row) }));
}
