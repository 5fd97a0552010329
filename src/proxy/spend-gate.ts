import { randomUUID } from 'node:crypto';
import { type BudgetPeriod, type PeriodSpan, periodAt } from '../accounting/budget-periods.js';
import { outputTokenBound, promptTokenBound } from './spend-estimate.js';
import { errorText } from '../common/error-text.js';
import { ApiError } from '../http/errors.js';
import type { AccessPolicies, AccessStore, Budget, BudgetRefusal, Hold, RateLimit, RateRefusal, Subject } from '../store/access-types.js';
import { accessUnavailable, type Caller } from './caller-access.js';
import type { TokenCounter } from './token-counter.js';
import { FreshCache } from './fresh-cache.js';
import { formatResetDuration } from './go-duration.js';

export interface SpendGateOptions {
  /** Told when calls pass unchecked because the policies were never readable. */
  warnUnchecked: (message: string) => void;
  /** Counts a prompt's tokens for its reservation, off the event loop. */
  counter: TokenCounter;
  /** budgets.timezone: where days, weeks and months begin. */
  timeZone: string;
  /** budgets.default-output-tokens: reserved for a call that sets no max_*tokens. */
  defaultOutputTokens: number;
  /** A hold whose instance died lapses after this long. */
  holdTtlMs?: number;
}

/** Endpoints whose answers are generated tokens; the others (embeddings, moderations) reserve no output. */
const GENERATING = new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses']);

/** What the gate needs of a call to price its reservation. */
export interface CallToAdmit {
  caller: Caller;
  endpoint: string;
  model: string | null;
  json?: Record<string, unknown>;
  bodyBytes: number;
  arrivedAt: number;
}

/**
 * Budgets and rate limits, checked before a call is forwarded and settled
 * when it ends. A call under a budget reserves the most it can cost; a call
 * under a limit counts one request and its most tokens. With no budget or
 * limit that applies to a call it costs nothing: the policies are read at
 * most once a second, and no admission is made.
 */
export class SpendGate {
  private readonly policies = new FreshCache<'all', PolicyIndex>({ refreshMs: 400, maxAgeMs: 900, maxEntries: 1 });
  private readonly holdTtlMs: number;
  private warnedAt = Number.NEGATIVE_INFINITY;
  private readonly spans = new Map<BudgetPeriod, PeriodSpan>();

  constructor(
    private readonly store: AccessStore,
    private readonly opts: SpendGateOptions,
  ) {
    this.holdTtlMs = opts.holdTtlMs ?? 2 * 3_600_000;
  }

  /**
   * Reads the policies once, at start-up, so that a database down later still leaves the last ones known. The
   * first call reads them again: another instance may have changed them since.
   */
  async loadPolicies(): Promise<void> {
    try {
      await this.policies.get('all', async () => new PolicyIndex(await this.store.policies()));
      this.forgetPolicies();
    } catch {
      // A proxy may start while its database is down (calls then go to the journal): the first call reads them.
    }
  }

  /** After a change made through this instance: applies from the next call on. */
  forgetPolicies(): void {
    this.policies.clear();
  }

  /** The hold to settle when the call ends, or undefined when nothing applies; throws a 429 when the call may not go. */
  async admit(call: CallToAdmit): Promise<Hold | undefined> {
    const index = await this.policies
      .get('all', async () => new PolicyIndex(await this.store.policies()))
      .catch((err: unknown) => {
        // Never read (started while the database was down): the calls go to the journal unchecked, and say so.
        // Once a minute, not once a call.
        if (Date.now() - this.warnedAt > 60_000) {
          this.warnedAt = Date.now();
          this.opts.warnUnchecked(`budgets and rate limits could not be read since start-up; calls pass unchecked: ${errorText(err)}`);
        }
        return NO_POLICIES;
      });
    // Most proxies enforce nothing: no call of theirs should pay for looking.
    if (index.empty) return undefined;
    const subjects = subjectsOf(call.caller.user, call.caller.key?.id ?? null);
    const budgets = subjects.map((s) => index.budget(s)).filter((b): b is Budget => b !== undefined);
    const limits = subjects.map((s) => index.limit(s)).filter((l): l is RateLimit => l !== undefined);
    if (budgets.length === 0 && limits.length === 0) return undefined;

    const counts = budgets.length > 0 || limits.some((l) => l.tpm !== undefined);
    const model = call.model ?? '';
    const promptTokens = counts ? await promptTokenBound(this.opts.counter, model, call.json, call.bodyBytes) : 0;
    const outputTokens = counts && GENERATING.has(call.endpoint) ? outputTokenBound(call.json, this.opts.defaultOutputTokens) : 0;
    const result = await this.store
      .admit({
        at: call.arrivedAt,
        holdId: randomUUID(),
        model,
        promptTokens,
        outputTokens,
        budgets: budgets.map((b) => ({ ...b, span: this.periodAt(b.period, call.arrivedAt) })),
        limits,
        holdTtlMs: this.holdTtlMs,
      })
      .catch((err) => {
        throw accessUnavailable(err);
      });
    if (result.admitted) return result.hold;
    throw result.refusal.kind === 'budget' ? this.budgetRefusal(result.refusal) : rateRefusal(result.refusal);
  }

  /** The calendar period holding `at`; worked out with Intl once per period, not per call (~20 µs each). */
  private periodAt(period: BudgetPeriod, at: number): PeriodSpan {
    const known = this.spans.get(period);
    if (known && at >= known.start && at < known.end) return known;
    const span = periodAt(period, at, this.opts.timeZone);
    this.spans.set(period, span);
    return span;
  }

  /**
   * A cost recorded without an admission (a Batch API result, a Realtime response) is added to the running count
   * of every budget it falls under, as a settled call's is; it reserved nothing, so nothing is released.
   */
  async charge(payer: { user: string; keyId: string | null }, at: number, usd: number): Promise<void> {
    if (usd <= 0) return;
    const index = await this.policies.get('all', async () => new PolicyIndex(await this.store.policies())).catch(() => NO_POLICIES);
    const budgets = subjectsOf(payer.user, payer.keyId)
      .map((s) => index.budget(s))
      .filter((b): b is Budget => b !== undefined);
    if (budgets.length === 0) return;
    const charged = budgets.map((b) => {
      const span = this.periodAt(b.period, at);
      return { scope: b.scope, subject: b.subject, periodStart: span.start, periodEnd: span.end };
    });
    await this.store.settle({ id: randomUUID(), usd: 0, tokens: 0, windowStart: 0, budgets: charged, limits: [] }, { usd, tokens: 0 });
  }

  /** The call's recorded cost and real tokens replace what it reserved. */
  settle(hold: Hold, actual: { usd: number; tokens: number }): Promise<void> {
    return this.store.settle(hold, actual);
  }

  private budgetRefusal(r: BudgetRefusal): ApiError {
    const b = r.budget;
    const resets =
      b.period === 'total'
        ? 'it does not reset (period total)'
        : `it resets at ${new Date(b.span.end).toISOString()} (${b.period}s begin in ${this.opts.timeZone})`;
    const inFlight = r.reserved > 0 ? ` and $${money(r.reserved)} held by calls in flight` : '';
    const message =
      `the ${b.period === 'total' ? 'total' : `${periodAdjective[b.period]}`} budget of ${subjectName(b)} ($${money(b.usd)}) ` +
      `does not cover this call: $${money(r.spent)} spent${inFlight}, this call may cost up to $${money(r.needed)}; ${resets}`;
    // Retrying at once cannot help: the official SDKs honour x-should-retry.
    return new ApiError(429, 'insufficient_quota', message, 'insufficient_quota', { 'x-should-retry': 'false' });
  }
}

/** Whose budgets and limits a call falls under: everyone's, its user's, and its key's. */
function subjectsOf(user: string, keyId: string | null): Subject[] {
  const subjects: Subject[] = [
    { scope: 'global', subject: '' },
    { scope: 'user', subject: user },
  ];
  if (keyId !== null) subjects.push({ scope: 'key', subject: keyId });
  return subjects;
}

const periodAdjective = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' } as const;

function rateRefusal(r: RateRefusal): ApiError {
  const unit = r.which === 'requests' ? 'requests' : 'tokens';
  const seconds = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
  const message = `rate limit of ${subjectName(r.limit)} reached: ${r.maximum} ${unit} per minute, ${r.remaining} left; try again in ${seconds} s`;
  return new ApiError(429, 'rate_limit_exceeded', message, unit, {
    'retry-after': String(seconds),
    'retry-after-ms': String(Math.ceil(r.retryAfterMs)),
    [`x-ratelimit-limit-${unit}`]: String(r.maximum),
    [`x-ratelimit-remaining-${unit}`]: String(r.remaining),
    [`x-ratelimit-reset-${unit}`]: formatResetDuration(r.retryAfterMs),
  });
}

function subjectName(s: Subject): string {
  if (s.scope === 'global') return 'the proxy';
  return s.scope === 'user' ? `user '${s.subject}'` : `key ${s.subject}`;
}

const money = (usd: number) => (Math.round(usd * 1e6) / 1e6).toString();

/** The policies by subject, for one lookup per scope on the hot path. */
class PolicyIndex {
  private readonly budgets = new Map<string, Budget>();
  private readonly limits = new Map<string, RateLimit>();

  constructor(policies: AccessPolicies) {
    for (const b of policies.budgets) this.budgets.set(`${b.scope}:${b.subject}`, b);
    for (const l of policies.limits) this.limits.set(`${l.scope}:${l.subject}`, l);
  }

  get empty(): boolean {
    return this.budgets.size === 0 && this.limits.size === 0;
  }

  budget = (s: Subject) => this.budgets.get(`${s.scope}:${s.subject}`);
  limit = (s: Subject) => this.limits.get(`${s.scope}:${s.subject}`);
}

const NO_POLICIES = new PolicyIndex({ budgets: [], limits: [] });
