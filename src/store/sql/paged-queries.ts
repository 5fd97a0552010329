import type { Page, QueryFilter, QueryRow } from '../types.js';
import { QUERY_COLUMNS, filterWhere } from './query-filter-sql.js';
import { toQueryRow } from './rows.js';

const READ_BATCH = 1000;

/**
 * Matching rows oldest first (newest first with page.newestFirst), one keyset page per statement. Each page is a
 * statement of its own: a long-open cursor would hold a connection (and, in
 * better-sqlite3, block every insert) while the caller streams the answer out.
 */
export async function* pagedQueries(
  filter: QueryFilter,
  page: Page,
  fetchRows: (sql: string, params: Record<string, unknown>) => Promise<Record<string, unknown>[]> | Record<string, unknown>[],
): AsyncIterable<QueryRow[]> {
  const { where, params } = filterWhere(filter);
  let remaining = page.limit ?? Infinity;
  let offset = page.offset ?? 0;
  let cursor: { ts: number; id: number } | undefined;
  const past = page.newestFirst ? '<' : '>';
  const order = page.newestFirst ? 'ts DESC, id DESC' : 'ts, id';
  while (remaining > 0) {
    const size = Math.min(READ_BATCH, remaining);
    const keyset = cursor ? `${where ? `${where} AND` : 'WHERE'} (ts ${past} @cts OR (ts = @cts AND id ${past} @cid))` : where;
    const rows = await fetchRows(`SELECT ${QUERY_COLUMNS} FROM queries ${keyset} ORDER BY ${order} LIMIT @size OFFSET @offset`, {
      ...params,
      cts: cursor?.ts,
      cid: cursor?.id,
      size,
      offset,
    });
    if (rows.length === 0) return;
    offset = 0;
    remaining -= rows.length;
    const batch = rows.map(toQueryRow);
    const last = batch[batch.length - 1];
    cursor = { ts: last.timestamp, id: last.id };
    yield batch;
    if (rows.length < size) return;
  }
}
