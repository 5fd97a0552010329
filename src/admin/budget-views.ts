import { periodAt } from '../accounting/budget-periods.js';
import type { AccessStore, Budget, BudgetState, RateLimit } from '../store/access-types.js';
import { isoUtc } from '../http/timestamps.js';

/** The states of budgets in the periods that hold now. */
export function budgetStates(access: AccessStore, budgets: Budget[], timeZone: string, now: number): Promise<BudgetState[]> {
  return access.budgetStates(
    budgets.map((b) => ({ ...b, span: periodAt(b.period, now, timeZone) })),
    now,
  );
}

export function budgetView(s: BudgetState) {
  return {
    ...subjectView(s),
    usd: s.usd,
    period: s.period,
    periodStart: s.period === 'total' ? null : isoUtc(s.periodStart),
    resetsAt: s.resetsAt === null ? null : isoUtc(s.resetsAt),
    spent: s.spent,
    /** Held by calls in flight, settled to their real cost when they end. */
    reserved: s.reserved,
    remaining: Math.max(0, s.usd - s.spent - s.reserved),
  };
}

export function limitView(l: RateLimit) {
  return { ...subjectView(l), rpm: l.rpm ?? null, tpm: l.tpm ?? null };
}

function subjectView(s: { scope: string; subject: string }) {
  if (s.scope === 'user') return { scope: s.scope, user: s.subject };
  if (s.scope === 'key') return { scope: s.scope, key: s.subject };
  return { scope: s.scope };
}
