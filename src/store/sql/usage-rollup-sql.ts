import { nanosFromDollars, nanosSql } from '../../accounting/money.js';
import type { QueryFilter } from '../types.js';
import { SUCCESS_CONDITION, TIER_FALLBACK_COUNT } from './pricing-sql.js';
import { USAGE_COLUMNS, equalityConditions, filterWhere, statusConditions } from './query-filter-sql.js';

/**
 * Usage rollups: sums of the queries table per time bucket, kept in step with
 * it by every write, so that /usage over millions of rows reads a few
 * thousand rollup rows instead.
 *
 * Three levels, keyed by (model, endpoint, success) and:
 *  - all users, per day, and all users, per 30 days (user_name = '', per_user = 0);
 *  - each user, per 30 days (per_user = 1). Per-user days would hold about as
 *    many rows as the queries table itself on a busy proxy, so a user's partial
 *    months at the edges are read from the queries table's (user_name, ts) index.
 * Buckets are epoch-aligned, so days nest in the 30-day buckets. A read over
 * (after, before) takes whole 30-day buckets, then whole days at the edges,
 * then scans only what is left in the queries table. Every statement here is
 * plain SQL that SQLite and PostgreSQL both run; named parameters are `@name`.
 */
export const DAY_MS = 86_400_000;
export const MONTH_MS = 30 * DAY_MS;
/** Coarsest first: the order a read decomposes its range in. */
export const ALL_USERS_SPANS = [MONTH_MS, DAY_MS] as const;
export const PER_USER_SPANS = [MONTH_MS] as const;

/** Start of the bucket of `span` that holds `ts` (floor, also for times before 1970). */
export const bucketOf = (ts: number, span: number): number => Math.floor(ts / span) * span;

const bucketSql = (column: string) => `(${column} - (((${column} % @span) + @span) % @span))`;

// cost (dollars, a double) is still kept for older binaries that share the file; reads use cost_nanos, which adds up exactly.
export const SUM_COLUMNS = [
  'num_queries',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'cost',
  'unpriced',
  'estimated',
  'cost_nanos',
  'tier_fallback',
] as const;
export type RollupSum = (typeof SUM_COLUMNS)[number];
export const ROLLUP_KEY = ['per_user', 'user_name', 'span', 'bucket', 'model', 'endpoint', 'success'];
const INSERT_COLUMNS = `per_user, user_name, span, bucket, model, base_model, ft_base_model, endpoint, success, ${SUM_COLUMNS.join(', ')}`;
const ADD_EXCLUDED = SUM_COLUMNS.map((c) => `${c} = usage_rollup.${c} + excluded.${c}`).join(', ');
const ADDED = '@n, @promptTokens, @completionTokens, @cachedTokens, @reasoningTokens, @cost, @unpriced, @estimated, @costNanos, @tierFallback';

/**
 * Adds recorded queries to the all-users day and 30-day rows, in the
 * insert's transaction. Parameters: @day, @month (bucket starts), @model,
 * @baseModel, @ftBaseModel, @endpoint, @success (0/1), and the sums: @n, the token
 * counts, @cost, @unpriced, @estimated, @costNanos, @tierFallback. RollupAdds computes them.
 */
export const ADD_TO_ALL_USERS_ROLLUP = `INSERT INTO usage_rollup (${INSERT_COLUMNS})
  VALUES (0, '', ${DAY_MS}, @day, @model, @baseModel, @ftBaseModel, @endpoint, @success, ${ADDED}),
         (0, '', ${MONTH_MS}, @month, @model, @baseModel, @ftBaseModel, @endpoint, @success, ${ADDED})
  ON CONFLICT (${ROLLUP_KEY.join(', ')}) DO UPDATE SET ${ADD_EXCLUDED}`;

/** Adds recorded queries to a user's 30-day row: as above, with @user and without @day. */
export const ADD_TO_USER_ROLLUP = `INSERT INTO usage_rollup (${INSERT_COLUMNS})
  VALUES (1, @user, ${MONTH_MS}, @month, @model, @baseModel, @ftBaseModel, @endpoint, @success, ${ADDED})
  ON CONFLICT (${ROLLUP_KEY.join(', ')}) DO UPDATE SET ${ADD_EXCLUDED}`;

/** What the insert of a query said about it: its price names, cost and how it was priced. */
export interface PricedRow {
  baseModel: string;
  ftBaseModel: string;
  cost: number;
  priced: boolean;
  tierFallback: boolean;
}

export interface RecordedFacts {
  timestamp: number;
  status: number;
  user: string;
  model: string;
  endpoint: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  estimated: boolean;
}

type RollupSums = Record<
  'n' | 'promptTokens' | 'completionTokens' | 'cachedTokens' | 'reasoningTokens' | 'cost' | 'unpriced' | 'estimated' | 'costNanos' | 'tierFallback',
  number
>;
type RowPlace = { model: string; baseModel: string; ftBaseModel: string; endpoint: string; success: number };
export type AllUsersAdd = RollupSums & RowPlace & { day: number; month: number };
export type UserAdd = RollupSums & RowPlace & { user: string; month: number };

/**
 * The rollup additions of the queries committed in one transaction, summed
 * per rollup row first: a batch of calls to one model costs one upsert per
 * row it touches, not one per call.
 *
 * Hot path: rows are built as plain literals. Object spread (`{ ...a, b }`)
 * cost 3 to 10 µs each here on Node 20 (measured), more than the insert.
 */
export class RollupAdds {
  private readonly allUsers = new Map<string, AllUsersAdd>();
  private readonly perUser = new Map<string, UserAdd>();

  add(q: RecordedFacts, row: PricedRow): void {
    const day = bucketOf(q.timestamp, DAY_MS);
    const month = bucketOf(q.timestamp, MONTH_MS);
    const success = q.status >= 200 && q.status < 400 ? 1 : 0;
    const place = `${q.model}\u0000${q.endpoint}\u0000${success}`;
    const allKey = `${day}\u0000${place}`;
    let all = this.allUsers.get(allKey);
    if (!all) {
      all = {
        day,
        month,
        model: q.model,
        baseModel: row.baseModel,
        ftBaseModel: row.ftBaseModel,
        endpoint: q.endpoint,
        success,
        n: 0,
        promptTokens: 0,
        completionTokens: 0,
        cachedTokens: 0,
        reasoningTokens: 0,
        cost: 0,
        costNanos: 0,
        unpriced: 0,
        estimated: 0,
        tierFallback: 0,
      };
      this.allUsers.set(allKey, all);
    }
    const userKey = `${q.user}\u0000${month}\u0000${place}`;
    let mine = this.perUser.get(userKey);
    if (!mine) {
      mine = {
        user: q.user,
        month,
        model: q.model,
        baseModel: row.baseModel,
        ftBaseModel: row.ftBaseModel,
        endpoint: q.endpoint,
        success,
        n: 0,
        promptTokens: 0,
        completionTokens: 0,
        cachedTokens: 0,
        reasoningTokens: 0,
        cost: 0,
        costNanos: 0,
        unpriced: 0,
        estimated: 0,
        tierFallback: 0,
      };
      this.perUser.set(userKey, mine);
    }
    addTo(all, q, row);
    addTo(mine, q, row);
  }

  allUsersRows(): Iterable<AllUsersAdd> {
    return this.allUsers.values();
  }

  userRows(): Iterable<UserAdd> {
    return this.perUser.values();
  }
}

function addTo(sums: RollupSums, q: RecordedFacts, row: PricedRow): void {
  sums.n += 1;
  sums.promptTokens += q.promptTokens;
  sums.completionTokens += q.completionTokens;
  sums.cachedTokens += q.cachedTokens;
  sums.reasoningTokens += q.reasoningTokens;
  sums.cost += row.cost;
  sums.costNanos += nanosFromDollars(row.cost);
  sums.unpriced += row.priced ? 0 : 1;
  sums.tierFallback += row.tierFallback ? 1 : 0;
  sums.estimated += q.estimated ? 1 : 0;
}

const SUCCESS_VALUE = `CASE WHEN ${SUCCESS_CONDITION} THEN 1 ELSE 0 END`;

/** Which rows of a model a recompute covers: the model itself, its snapshots and fine-tuned models on it (as in re-pricing). */
const MODEL_SCOPE = '(model = @model OR base_model = @model OR ft_base_model = @model)';

export type RollupScope = 'model' | 'allModels';

export interface RecomputeSql {
  remove: string;
  insert: string;
}

/**
 * Recomputes the buckets of @span in [@lo, @hi) from the queries table, for
 * all users together or per user, scoped to @model and its snapshots unless
 * `allModels`. Run `remove` then `insert` in one transaction. Parameters:
 * @span, @lo, @hi, @model.
 */
export function recomputeFromQueriesSql(perUser: boolean, scope: RollupScope): RecomputeSql {
  const modelWhere = scope === 'model' ? ` AND ${MODEL_SCOPE}` : '';
  const user = perUser ? 'user_name' : "''";
  return {
    remove: `DELETE FROM usage_rollup WHERE per_user = ${perUser ? 1 : 0} AND span = @span AND bucket >= @lo AND bucket < @hi${modelWhere}`,
    insert: `INSERT INTO usage_rollup (${INSERT_COLUMNS})
      SELECT ${perUser ? 1 : 0}, ${user}, @span, ${bucketSql('ts')}, model, MAX(base_model), MAX(ft_base_model), endpoint, ${SUCCESS_VALUE},
        COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost),
        SUM(CASE WHEN priced = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN estimated = 1 THEN 1 ELSE 0 END), SUM(${nanosSql('cost')}), SUM(${TIER_FALLBACK_COUNT})
      FROM queries WHERE ts >= @lo AND ts < @hi${modelWhere}
      GROUP BY ${perUser ? 'user_name, ' : ''}${bucketSql('ts')}, model, endpoint, ${SUCCESS_VALUE}`,
  };
}

/**
 * Recomputes the all-users 30-day buckets in [@lo, @hi) from the all-users
 * days. Parameters: @span (= MONTH_MS), @day (= DAY_MS), @lo, @hi, @model.
 */
export function recomputeMonthsFromDaysSql(scope: RollupScope): RecomputeSql {
  const modelWhere = scope === 'model' ? ` AND ${MODEL_SCOPE}` : '';
  return {
    remove: `DELETE FROM usage_rollup WHERE per_user = 0 AND span = @span AND bucket >= @lo AND bucket < @hi${modelWhere}`,
    insert: `INSERT INTO usage_rollup (${INSERT_COLUMNS})
      SELECT 0, '', @span, ${bucketSql('bucket')}, model, MAX(base_model), MAX(ft_base_model), endpoint, success,
        ${SUM_COLUMNS.map((c) => `SUM(${c})`).join(', ')}
      FROM usage_rollup WHERE per_user = 0 AND span = @day AND bucket >= @lo AND bucket < @hi${modelWhere}
      GROUP BY ${bucketSql('bucket')}, model, endpoint, success`,
  };
}

/**
 * Days that hold rows of @model (or its snapshots) in [@lo, @hi), with their
 * row counts: re-pricing plans its transactions with these. Parameters:
 * @day (= DAY_MS), @model, @lo, @hi (bucket starts, @hi exclusive).
 */
export const MODEL_DAYS = `SELECT bucket, SUM(num_queries) AS n FROM usage_rollup
  WHERE per_user = 0 AND user_name = '' AND span = @day AND bucket >= @lo AND bucket < @hi AND ${MODEL_SCOPE}
  GROUP BY bucket ORDER BY bucket`;

/** One piece of a usage read: whole buckets of the rollup, or rows of the queries table, over [from, to). */
export type UsagePart = { source: 'rollup'; span: number; from?: number; to?: number } | { source: 'queries'; from?: number; to?: number };

/**
 * Splits the half-open range [from, to) (undefined: unbounded) into whole
 * buckets, coarsest first, and the partial-day edges left for the queries table.
 */
export function planUsageParts(from: number | undefined, to: number | undefined, spans: readonly number[]): UsagePart[] {
  if (from !== undefined && to !== undefined && from >= to) return [];
  if (spans.length === 0) return [{ source: 'queries', from, to }];
  const [span, ...finer] = spans;
  const first = from === undefined ? undefined : Math.ceil(from / span) * span;
  const last = to === undefined ? undefined : Math.floor(to / span) * span;
  if (first !== undefined && last !== undefined && first >= last) return planUsageParts(from, to, finer);
  return [
    ...(first === undefined ? [] : planUsageParts(from, first, finer)),
    { source: 'rollup', span, from: first, to: last },
    ...(last === undefined ? [] : planUsageParts(last, to, finer)),
  ];
}

/**
 * The statement that answers /usage: from the rollup, or, for one key's calls,
 * from the queries table through its (key_id, ts) index, as the rollup is not
 * kept per key. Both give the same result columns.
 */
export function usageSql(filter: QueryFilter): { sql: string; params: Record<string, unknown> } {
  if (filter.key === undefined) return usageFromRollupSql(filter);
  const { where, params } = filterWhere(filter);
  return { sql: `SELECT ${USAGE_COLUMNS} FROM queries ${where}`, params };
}

/**
 * One statement that answers /usage from the rollup and the partial edges,
 * with the same result columns as a plain SUM over the queries table.
 * Timestamps are whole milliseconds: `after` is exclusive, so the range starts at after + 1.
 */
function usageFromRollupSql(filter: QueryFilter): { sql: string; params: Record<string, unknown> } {
  const from = filter.after === undefined ? undefined : Math.floor(filter.after) + 1;
  const to = filter.before === undefined ? undefined : Math.ceil(filter.before);
  const parts = planUsageParts(from, to, filter.user === undefined ? ALL_USERS_SPANS : PER_USER_SPANS);
  const params: Record<string, unknown> = {};
  const selects = parts.map((part, i) => {
    if (part.source === 'queries') {
      const { where, params: p } = filterWhere({ ...filter, after: undefined, before: undefined });
      Object.assign(params, p);
      const bounds = rangeConditions('ts', part.from, part.to, i, params);
      return `SELECT ${USAGE_COLUMNS} FROM queries ${joinWhere(where, bounds)}`;
    }
    params[`span${i}`] = part.span;
    const conditions = [
      ...rollupUser(filter, params),
      `span = @span${i}`,
      ...rangeConditions('bucket', part.from, part.to, i, params),
      ...rollupFilter(filter, params),
    ];
    return `SELECT ${ROLLUP_USAGE_COLUMNS} FROM usage_rollup WHERE ${conditions.join(' AND ')}`;
  });
  if (selects.length === 0) return { sql: `SELECT ${USAGE_COLUMNS} FROM queries WHERE 1 = 0`, params };
  const sums = OUTPUT_COLUMNS.map((c) => `COALESCE(SUM(${c}), 0) AS ${c}`).join(', ');
  return { sql: `SELECT ${sums} FROM (${selects.join(' UNION ALL ')}) parts`, params };
}

/** The output names of USAGE_COLUMNS, which toUsage reads. */
export const OUTPUT_COLUMNS = [
  'num_queries',
  'query_tokens',
  'answer_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'cost',
  'unpriced',
  'estimated',
  'tier_fallback',
];

const ROLLUP_USAGE_COLUMNS = `COALESCE(SUM(num_queries), 0) AS num_queries,
  COALESCE(SUM(prompt_tokens), 0) AS query_tokens,
  COALESCE(SUM(completion_tokens), 0) AS answer_tokens,
  COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
  COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
  COALESCE(SUM(cost_nanos), 0) AS cost,
  COALESCE(SUM(unpriced), 0) AS unpriced,
  COALESCE(SUM(estimated), 0) AS estimated,
  COALESCE(SUM(tier_fallback), 0) AS tier_fallback`;

function rangeConditions(column: string, from: number | undefined, to: number | undefined, i: number, params: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (from !== undefined) {
    out.push(`${column} >= @from${i}`);
    params[`from${i}`] = from;
  }
  if (to !== undefined) {
    out.push(`${column} < @to${i}`);
    params[`to${i}`] = to;
  }
  return out;
}

/** The rows of one user, or those of all users together: the leading key columns. */
function rollupUser(filter: QueryFilter, params: Record<string, unknown>): string[] {
  if (filter.user === undefined) return ['per_user = 0', "user_name = ''"];
  params.user = filter.user;
  return ['per_user = 1', 'user_name = @user'];
}

function rollupFilter(filter: QueryFilter, params: Record<string, unknown>): string[] {
  return [...equalityConditions(filter, ['endpoint', 'model'], params), ...statusConditions(filter, { ok: 'success = 1', error: 'success = 0' })];
}

function joinWhere(where: string, extra: string[]): string {
  if (extra.length === 0) return where;
  return where ? `${where} AND ${extra.join(' AND ')}` : `WHERE ${extra.join(' AND ')}`;
}

/** Every statement, in order, that rebuilds the whole rollup from the queries table (migration, import, bulk loads). */
export function rebuildRollupSteps(): { sql: string; params: Record<string, unknown> }[] {
  const whole = { lo: Number.MIN_SAFE_INTEGER, hi: Number.MAX_SAFE_INTEGER };
  return [
    { sql: 'DELETE FROM usage_rollup', params: {} },
    { sql: recomputeFromQueriesSql(false, 'allModels').insert, params: { span: DAY_MS, ...whole } },
    { sql: recomputeMonthsFromDaysSql('allModels').insert, params: { span: MONTH_MS, day: DAY_MS, ...whole } },
    { sql: recomputeFromQueriesSql(true, 'allModels').insert, params: { span: MONTH_MS, ...whole } },
  ];
}
