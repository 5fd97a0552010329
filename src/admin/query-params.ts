import { badRequest } from '../http/errors.js';
import type { Page, QueryFilter, StatusFilter, UsageGrouping } from '../store/types.js';
import { parseGrouping } from './grouping-params.js';
import { requireZonedTimestamp } from '../http/timestamps.js';

type RawQuery = Record<string, string | string[] | undefined>;

const FILTER_PARAMS = ['user', 'key', 'after', 'before', 'endpoint', 'model', 'status'];
const PAGE_PARAMS = ['limit', 'offset', 'order'];
const GROUPING_PARAMS = ['groupBy', 'tz'];
const ORDERS = ['oldest', 'newest'];
const STATUS_VALUES: StatusFilter[] = ['ok', 'error', 'all'];

/** Rejects unknown and repeated parameters: a typo must not silently widen a report. */
export function singleValues(raw: RawQuery, allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (!allowed.includes(name)) throw badRequest('unknown_parameter', `unknown parameter '${name}'; known: ${allowed.join(', ')}`);
    if (Array.isArray(value)) throw badRequest('repeated_parameter', `parameter '${name}' is given more than once`);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** For routes that take no parameters: an unexpected one is a mistake worth saying. */
export function rejectQueryParams(raw: Record<string, unknown> | undefined): void {
  const names = Object.keys(raw ?? {});
  if (names.length > 0) throw badRequest('unknown_parameter', `unknown parameter '${names[0]}'; this route takes none`);
}

/** The filters of /usage and /queries, with paging (/queries) or grouping (/usage). */
export function parseFilter(raw: RawQuery, also: 'paging' | 'grouping'): { filter: QueryFilter; page: Page; grouping?: UsageGrouping } {
  const q = singleValues(raw, [...FILTER_PARAMS, ...(also === 'paging' ? PAGE_PARAMS : GROUPING_PARAMS)]);
  const filter: QueryFilter = { status: 'ok' };
  if (q.user !== undefined) {
    if (q.user === '') throw badRequest('invalid_user', "parameter 'user' must not be empty");
    filter.user = q.user;
  }
  if (q.key !== undefined) {
    if (q.key === '') throw badRequest('invalid_key', "parameter 'key' must not be empty");
    filter.key = q.key;
  }
  if (q.after !== undefined) filter.after = requireZonedTimestamp('after', q.after);
  if (q.before !== undefined) filter.before = requireZonedTimestamp('before', q.before);
  if (q.endpoint !== undefined) {
    if (!q.endpoint.startsWith('/')) throw badRequest('invalid_endpoint', "parameter 'endpoint' is a request path such as /v1/chat/completions");
    filter.endpoint = q.endpoint;
  }
  if (q.model !== undefined) filter.model = q.model;
  if (q.status !== undefined) {
    if (!STATUS_VALUES.includes(q.status as StatusFilter)) {
      throw badRequest('invalid_status', `parameter 'status' must be one of ${STATUS_VALUES.join(', ')}`);
    }
    filter.status = q.status as StatusFilter;
  }
  const page: Page = {};
  if (q.limit !== undefined) page.limit = wholeNumber('limit', q.limit, 1);
  if (q.offset !== undefined) page.offset = wholeNumber('offset', q.offset, 0);
  if (q.order !== undefined) {
    if (!ORDERS.includes(q.order)) throw badRequest('invalid_parameter', `parameter 'order' must be oldest or newest, not '${q.order}'`);
    page.newestFirst = q.order === 'newest';
  }
  return { filter, page, grouping: parseGrouping(q.groupBy, q.tz) };
}

function wholeNumber(name: string, value: string, min: number): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < min) {
    throw badRequest('invalid_parameter', `parameter '${name}' must be a whole number of at least ${min}`);
  }
  return Number(value);
}
