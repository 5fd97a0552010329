import { fineTunedPriceNames } from '../../accounting/fine-tuned-names.js';
import { baseModelName } from '../../accounting/model-names.js';
import type { AccessSql } from './access-sql.js';
import type { AdmissionRequest, AdmissionResult, BudgetCheck, Hold, RateLimit, RateRefusal, Subject } from '../access-types.js';

/**
 * The admission and settlement logic, written once for both databases as a
 * generator of statements: SQLite runs the steps synchronously inside one
 * BEGIN IMMEDIATE transaction, PostgreSQL awaits each inside one transaction
 * after taking the subjects' advisory locks. Either way no other admission of
 * the same subjects can run between the read of the spend and the write of
 * the hold, which is what keeps a budget from being overshot.
 */
type Step = { sql: string; params: Record<string, unknown>; rows?: false } | { sql: string; params: Record<string, unknown>; rows: true };

export type Rows = Record<string, unknown>[];
export type Steps<T> = Generator<Step, T, Rows>;

const MINUTE = 60_000;

/** The subjects an admission touches, in one order for every instance so their locks cannot deadlock. */
export function lockOrder(request: { budgets: Subject[]; limits: Subject[] }): string[] {
  const names = new Set<string>();
  for (const s of [...request.budgets, ...request.limits]) names.add(`${s.scope}:${s.subject}`);
  return [...names].sort();
}

export function* admissionSteps(sql: AccessSql, r: AdmissionRequest): Steps<AdmissionResult> {
  const window = Math.floor(r.at / MINUTE) * MINUTE;
  const tokens = r.promptTokens + r.outputTokens;
  for (const limit of r.limits) {
    const refusal = yield* checkLimit(sql, limit, r.at, window, tokens);
    if (refusal) return { admitted: false, refusal };
  }
  let usd = 0;
  if (r.budgets.length > 0) {
    // The model's price names as its row will carry them (store/sql/insert-query-sql.ts), fine-tuned models included.
    const fineTuned = fineTunedPriceNames(r.model);
    const [row] = yield {
      sql: sql.reservationCost,
      params: {
        model: r.model,
        baseModel: fineTuned ? fineTuned.fineTunedRates : baseModelName(r.model),
        ftBaseModel: fineTuned ? fineTuned.baseRates : '',
        at: r.at,
        promptTokens: r.promptTokens,
        outputTokens: r.outputTokens,
      },
      rows: true,
    };
    // An unpriced model is recorded at no cost, so it reserves none.
    usd = Number(row?.usd ?? 0);
  }
  for (const budget of r.budgets) {
    const { spent, reserved } = yield* budgetSpend(sql, budget, r.at);
    // Refused once the budget is used up, even by a call that costs nothing, and whenever this call could pass it.
    if (spent + reserved >= budget.usd || spent + reserved + usd > budget.usd) {
      return { admitted: false, refusal: { kind: 'budget', budget, spent, reserved, needed: usd } };
    }
  }
  for (const budget of r.budgets) {
    yield {
      sql: sql.insertHold,
      params: { holdId: r.holdId, scope: budget.scope, subject: budget.subject, start: budget.span.start, usd, expiresAt: r.at + r.holdTtlMs },
    };
  }
  for (const limit of r.limits) {
    yield { sql: sql.countInWindow, params: { scope: limit.scope, subject: limit.subject, window, tokens } };
  }
  const hold: Hold = {
    id: r.holdId,
    usd,
    tokens,
    windowStart: window,
    budgets: r.budgets.map((b) => ({ scope: b.scope, subject: b.subject, periodStart: b.span.start, periodEnd: b.span.end })),
    // Only a tokens-per-minute window needs its count corrected when the call ends.
    limits: r.limits.filter((l) => l.tpm !== undefined).map(({ scope, subject }): Subject => ({ scope, subject })),
  };
  return { admitted: true, hold };
}

/** Spent in the budget's period (its counter started if this is the period's first check) and held by calls in flight. */
export function* budgetSpend(sql: AccessSql, budget: BudgetCheck, now: number): Steps<{ spent: number; reserved: number }> {
  const subject = { scope: budget.scope, subject: budget.subject };
  const span = { start: budget.span.start, end: budget.span.end };
  let [spend] = yield { sql: sql.spend, params: { ...subject, ...span, now }, rows: true };
  if (!spend) {
    // The period's first check: its counter starts from what was recorded in it so far (a sum, once per period).
    yield { sql: sql.startSpend(budget.scope), params: { ...subject, ...span } };
    [spend] = yield { sql: sql.spend, params: { ...subject, ...span, now }, rows: true };
  }
  if (Number(spend?.lapsed ?? 0) > 0) yield { sql: sql.purgeLapsedHolds, params: { ...subject, now } };
  return { spent: Number(spend?.spent ?? 0), reserved: Number(spend?.reserved ?? 0) };
}

/**
 * A sliding minute, estimated from two fixed minute windows: all of this
 * minute's count plus the part of the last minute's that still overlaps the
 * sixty seconds before now (as Cloudflare and others count).
 */
function* checkLimit(sql: AccessSql, limit: RateLimit, at: number, window: number, tokens: number): Steps<RateRefusal | undefined> {
  const subject = { scope: limit.scope, subject: limit.subject };
  const previous = window - MINUTE;
  const rows = yield { sql: sql.windows, params: subject, rows: true };
  if (rows.some((w) => Number(w.window_start) < previous)) yield { sql: sql.purgeOldWindows, params: { ...subject, previous } };
  const counts = (start: number) => {
    const row = rows.find((w) => Number(w.window_start) === start);
    return { requests: Number(row?.requests ?? 0), tokens: Number(row?.tokens ?? 0) };
  };
  const now = counts(window);
  const before = counts(previous);
  const elapsed = (at - window) / MINUTE;
  for (const which of ['requests', 'tokens'] as const) {
    const maximum = which === 'requests' ? limit.rpm : limit.tpm;
    if (maximum === undefined) continue;
    const adding = which === 'requests' ? 1 : tokens;
    const used = before[which] * (1 - elapsed) + now[which];
    if (used + adding <= maximum) continue;
    return {
      kind: 'rate',
      limit,
      which,
      maximum,
      remaining: Math.max(0, Math.floor(maximum - used)),
      retryAfterMs: waitUntilFits({ before: before[which], now: now[which], adding, maximum, elapsed, msLeftInWindow: window + MINUTE - at }),
    };
  }
  return undefined;
}

/** How long until `adding` fits under `maximum` as the last minute's count fades out; a minute when it never can. */
function waitUntilFits(w: { before: number; now: number; adding: number; maximum: number; elapsed: number; msLeftInWindow: number }): number {
  if (w.adding > w.maximum) return MINUTE;
  const room = w.maximum - w.now - w.adding;
  if (room >= 0 && w.before > 0) {
    // before * (1 - f) <= room  =>  f >= 1 - room / before
    const fits = 1 - room / w.before;
    return Math.max(1, Math.ceil((fits - w.elapsed) * MINUTE));
  }
  // Not within this window: in the next one this window's count is the one fading out.
  const fitsNext = w.now > 0 ? Math.max(0, 1 - (w.maximum - w.adding) / w.now) : 0;
  return Math.max(1, Math.ceil(w.msLeftInWindow + fitsNext * MINUTE));
}

export function* settlementSteps(sql: AccessSql, hold: Hold, actual: { usd: number; tokens: number }): Steps<void> {
  yield { sql: sql.releaseHold, params: { holdId: hold.id } };
  for (const b of hold.budgets) {
    yield { sql: sql.charge, params: { scope: b.scope, subject: b.subject, start: b.periodStart, end: b.periodEnd, usd: actual.usd } };
  }
  const delta = actual.tokens - hold.tokens;
  if (delta === 0) return;
  for (const l of hold.limits) {
    yield { sql: sql.correctTokens, params: { scope: l.scope, subject: l.subject, window: hold.windowStart, delta } };
  }
}
