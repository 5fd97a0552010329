import { nanosSql } from '../../accounting/money.js';
import type { GroupField, QueryFilter, UsageGrouping } from '../types.js';
import { equalityConditions, filterWhere, statusConditions } from './query-filter-sql.js';
import { TIER_FALLBACK_COUNT } from './pricing-sql.js';
import { ALL_USERS_SPANS, DAY_MS, OUTPUT_COLUMNS, PER_USER_SPANS, planUsageParts } from './usage-rollup-sql.js';
import { HOUR_MS, localIso, localMonthStarts, localWallTimeToUtc, offsetSegments, type OffsetSegment } from './zone-offsets.js';

export const GROUP_FIELDS: readonly GroupField[] = ['user', 'model', 'endpoint', 'key', 'hour', 'day', 'month'];
export const TIME_FIELDS: readonly GroupField[] = ['hour', 'day', 'month'];

/** The time the queries table spans (its oldest and newest ts), read first: zone offsets are computed over it. */
export interface HistorySpan {
  oldest: number;
  newest: number;
}

// Two subqueries: SQLite reads MIN or MAX off the ts index only when each stands alone (both in one SELECT scan the table).
export const HISTORY_SPAN_SQL = 'SELECT (SELECT MIN(ts) FROM queries) AS oldest, (SELECT MAX(ts) FROM queries) AS newest';

// Costs as whole nano-dollars, as /usage sums them (accounting/money.ts): groups add up to the total exactly.
const QUERIES_SUMS = `COUNT(*) AS num_queries, SUM(prompt_tokens) AS query_tokens, SUM(completion_tokens) AS answer_tokens,
  SUM(cached_tokens) AS cached_tokens, SUM(reasoning_tokens) AS reasoning_tokens, SUM(${nanosSql('cost')}) AS cost,
  SUM(CASE WHEN priced = 0 THEN 1 ELSE 0 END) AS unpriced, SUM(CASE WHEN estimated = 1 THEN 1 ELSE 0 END) AS estimated,
  SUM(${TIER_FALLBACK_COUNT}) AS tier_fallback`;

const ROLLUP_SUMS = `SUM(num_queries) AS num_queries, SUM(prompt_tokens) AS query_tokens, SUM(completion_tokens) AS answer_tokens,
  SUM(cached_tokens) AS cached_tokens, SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanos) AS cost, SUM(unpriced) AS unpriced,
  SUM(estimated) AS estimated, SUM(tier_fallback) AS tier_fallback`;

export interface GroupedUsageSql {
  sql: string;
  params: Record<string, unknown>;
  /** Turns a result row's g0, g1 into the group's field values (times as local ISO instants). */
  keysOf(row: Record<string, unknown>): Partial<Record<GroupField, string | null>>;
}

/**
 * One statement that sums usage per group (undefined when the range holds no time at all), for SQLite and PostgreSQL alike.
 *
 * Local hours, days and months come from offset segments: between two
 * transitions of the zone, local time is ts plus a constant, so
 * `CASE WHEN ts < @t1 THEN @o0 ... END` gives every row its offset, and plain
 * integer arithmetic its local bucket. Days are keyed by their local wall-clock
 * start (the same for every instant of the day, whatever the offset), hours by
 * their UTC start (two 01:00s of the night clocks go back stay apart), months by
 * a CASE over their starts.
 *
 * Where the rollups have the groups' granularity the read is planned as /usage
 * is: whole rollup buckets, and the queries table only for the partial edges.
 * That is: model and endpoint (all-users rows), user (per-user 30-day rows),
 * and day or month in a zone at UTC+0 (all-users day rows). Hours, local days
 * elsewhere, and time by user read the queries table.
 */
export function groupedUsageSql(
  filter: QueryFilter,
  grouping: UsageGrouping,
  span: HistorySpan,
  { rollups }: { rollups: boolean },
): GroupedUsageSql | undefined {
  const { fields, timeZone } = grouping;
  const from = Math.max(span.oldest, filter.after === undefined ? -Infinity : Math.floor(filter.after) + 1);
  const to = Math.min(span.newest + 1, filter.before === undefined ? Infinity : Math.ceil(filter.before));
  const params: Record<string, unknown> = { maxGroups: grouping.maxGroups + 1 };
  const time = fields.find((f) => TIME_FIELDS.includes(f));
  const segments = time ? offsetSegments(timeZone, from, Math.max(from, to)) : [];
  const months = time === 'month' ? localMonthStarts(timeZone, from, Math.max(from, to)) : [];
  const perUser = filter.user !== undefined || fields.includes('user');
  const atUtc = segments.every((s) => s.offsetMs === 0);
  const wholeHours = segments.every((s) => s.offsetMs % HOUR_MS === 0);
  const afterEpoch = from - 14 * HOUR_MS >= 0;
  // The rollups are not kept per key: a key's groups, or a key's calls, are read from the queries table.
  const byKey = fields.includes('key') || filter.key !== undefined;
  const rollupSpans = !rollups || byKey ? [] : !time ? (perUser ? PER_USER_SPANS : ALL_USERS_SPANS) : time !== 'hour' && !perUser && atUtc ? [DAY_MS] : [];
  if (from >= to) return undefined;

  const keyExpr = (field: GroupField, column: string): string => {
    if (field === 'user') return 'user_name';
    if (field === 'key') return 'key_id';
    if (field === 'model' || field === 'endpoint') return field;
    if (field === 'month') return monthCase(column, months, params);
    // Local hours of a zone whose offsets are whole hours start with the UTC hours: no offset needed.
    if (field === 'hour' && wholeHours && afterEpoch) return `((${column} / ${HOUR_MS}) * ${HOUR_MS})`;
    const off = offsetCase(column, segments, params);
    const local = `(${column} + ${off})`;
    const size = field === 'hour' ? HOUR_MS : DAY_MS;
    // Integer division floors only at or after 1970; before it, the remainder is made positive first.
    const wallStart = afterEpoch ? `((${local} / ${size}) * ${size})` : `(${local} - (((${local} % ${size}) + ${size}) % ${size}))`;
    return field === 'hour' ? `(${wallStart} - ${off})` : wallStart;
  };
  // Thousands of hours or days per read: each is written once, and day starts are found once per day.
  const writtenCache = new Map<number, string>();
  const written = (ts: number) => {
    let text = writtenCache.get(ts);
    if (text === undefined) {
      text = localIso(timeZone, ts);
      writtenCache.set(ts, text);
    }
    return text;
  };
  const dayStarts = new Map<number, number>();
  const dayStart = (wall: number) => {
    let start = dayStarts.get(wall);
    if (start === undefined) {
      start = localWallTimeToUtc(timeZone, wall);
      dayStarts.set(wall, start);
    }
    return start;
  };
  const keys = (column: string) => fields.map((f, i) => `${keyExpr(f, column)} AS g${i}`).join(', ');
  const groupBy = fields.map((_f, i) => `g${i}`).join(', ');

  const selects = planUsageParts(
    // Unbounded sides stay unbounded, as in /usage: whole rollup buckets then cover all history, with no edges to scan.
    filter.after === undefined ? undefined : from,
    filter.before === undefined ? undefined : to,
    rollupSpans,
  ).map((part, i) => {
    if (part.source === 'queries') {
      const { where, params: p } = filterWhere({ ...filter, after: undefined, before: undefined });
      Object.assign(params, p);
      // A part that spans the whole history needs no range: a plain scan beats walking the ts index over every row.
      const whole = (part.from ?? -Infinity) <= span.oldest && (part.to ?? Infinity) > span.newest;
      const bounds = whole ? [] : range('ts', part.from, part.to, i, params);
      const conditions = [...(where ? [where.slice('WHERE '.length)] : []), ...bounds];
      return `SELECT ${keys('ts')}, ${QUERIES_SUMS} FROM queries${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} GROUP BY ${groupBy}`;
    }
    params[`span${i}`] = part.span;
    const conditions = [
      ...rollupRows(filter, perUser, params),
      `span = @span${i}`,
      ...range('bucket', part.from, part.to, i, params),
      ...rollupFilter(filter, params),
    ];
    return `SELECT ${keys('bucket')}, ${ROLLUP_SUMS} FROM usage_rollup WHERE ${conditions.join(' AND ')} GROUP BY ${groupBy}`;
  });
  const outer = fields.map((_f, i) => `g${i}`).join(', ');
  const sums = OUTPUT_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(', ');
  const sql = `SELECT ${outer}, ${sums} FROM (${selects.join(' UNION ALL ')}) parts GROUP BY ${groupBy} ORDER BY ${groupBy} LIMIT @maxGroups`;

  return {
    sql,
    params,
    keysOf(row) {
      const out: Partial<Record<GroupField, string | null>> = {};
      fields.forEach((field, i) => {
        const value = row[`g${i}`];
        if (field === 'hour' || field === 'month') out[field] = written(Number(value));
        else if (field === 'day') out[field] = written(dayStart(Number(value)));
        else out[field] = value === null || value === undefined ? null : String(value);
      });
      return out;
    },
  };
}

const bigint = (name: string) => `CAST(@${name} AS BIGINT)`;

/** The zone's offset at `column`, as SQL. */
function offsetCase(column: string, segments: OffsetSegment[], params: Record<string, unknown>): string {
  segments.forEach((s, i) => {
    params[`segFrom${i}`] = s.from;
    params[`segOff${i}`] = s.offsetMs;
  });
  if (segments.length === 1) return bigint('segOff0');
  const branches = segments.slice(1).map((_s, i) => `WHEN ${column} < ${bigint(`segFrom${i + 1}`)} THEN ${bigint(`segOff${i}`)}`);
  return `(CASE ${branches.join(' ')} ELSE ${bigint(`segOff${segments.length - 1}`)} END)`;
}

/** The UTC start of the local month holding `column`. */
function monthCase(column: string, starts: number[], params: Record<string, unknown>): string {
  starts.forEach((s, i) => {
    params[`month${i}`] = s;
  });
  if (starts.length === 1) return bigint('month0');
  const branches = starts.slice(1).map((_s, i) => `WHEN ${column} < ${bigint(`month${i + 1}`)} THEN ${bigint(`month${i}`)}`);
  return `(CASE ${branches.join(' ')} ELSE ${bigint(`month${starts.length - 1}`)} END)`;
}

function range(column: string, from: number | undefined, to: number | undefined, i: number, params: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (from !== undefined && Number.isFinite(from)) {
    out.push(`${column} >= ${bigint(`from${i}`)}`);
    params[`from${i}`] = from;
  }
  if (to !== undefined && Number.isFinite(to)) {
    out.push(`${column} < ${bigint(`to${i}`)}`);
    params[`to${i}`] = to;
  }
  return out;
}

/** All users together, every user's own rows, or one user's. */
function rollupRows(filter: QueryFilter, perUser: boolean, params: Record<string, unknown>): string[] {
  if (!perUser) return ['per_user = 0', "user_name = ''"];
  if (filter.user === undefined) return ['per_user = 1'];
  params.user = filter.user;
  return ['per_user = 1', 'user_name = @user'];
}

function rollupFilter(filter: QueryFilter, params: Record<string, unknown>): string[] {
  return [...equalityConditions(filter, ['endpoint', 'model'], params), ...statusConditions(filter, { ok: 'success = 1', error: 'success = 0' })];
}
