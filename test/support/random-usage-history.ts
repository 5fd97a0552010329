import { DAY_MS, MONTH_MS } from '../../src/store/sql/usage-rollup-sql.js';
import type { QueryFilter, QueryRecord } from '../../src/store/types.js';
import { aQuery as aRecordedQuery } from './query-records.js';
import type { SeededRandom } from './seeded-random.js';

/** The random history both stores' rollup tests record, and the random filters they read it with. */
export const START = Date.parse('2024-01-01T00:00:00Z');
export const SPAN = 200 * DAY_MS;
export const USERS = ['adam', 'eve', 'cain', 'abel'];
export const MODELS = ['gpt-4o', 'gpt-4o-2024-08-06', 'gpt-4o-mini', 'o3-mini'];
export const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings'];
export const STATUSES = [200, 200, 200, 200, 201, 399, 400, 429, 500, 504];

export const aQuery = ({ at, ...overrides }: Partial<QueryRecord> & { at: string }): QueryRecord => aRecordedQuery({ ...overrides, timestamp: Date.parse(at) });

/** Bounds anywhere, and right at (and one ms either side of) day and 30-day bucket edges. */
function randomBound(r: SeededRandom): number | undefined {
  const kind = r.int(4);
  if (kind === 0) return undefined;
  const t = START - 5 * DAY_MS + r.int(SPAN + 10 * DAY_MS);
  if (kind === 1) return t;
  const edge = Math.floor(t / (kind === 2 ? DAY_MS : MONTH_MS)) * (kind === 2 ? DAY_MS : MONTH_MS);
  return edge + r.pick([-1, 0, 1]);
}

export function randomFilter(r: SeededRandom): QueryFilter {
  const a = randomBound(r);
  const b = randomBound(r);
  const [after, before] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
  const filter: QueryFilter = { status: r.pick(['ok', 'error', 'all'] as const), after, before };
  if (r.int(3) === 0) filter.user = r.pick(USERS);
  if (r.int(4) === 0) filter.model = r.pick(MODELS);
  if (r.int(4) === 0) filter.endpoint = r.pick(ENDPOINTS);
  return filter;
}
