import type { BudgetPeriod } from '../../accounting/budget-periods.js';
import type { ApiKey, Budget, BudgetCheck, BudgetState, KeyWithSpend, NewApiKey, RateLimit, Scope } from '../access-types.js';

/** A row of api_keys (with its spend) as the proxy sees a key. */
export function keyFromRow(row: Record<string, unknown>): ApiKey {
  return {
    id: String(row.id),
    user: String(row.user_name),
    name: row.name === null || row.name === undefined ? null : String(row.name),
    prefix: String(row.prefix),
    createdAt: Number(row.created_at),
    expiresAt: nullableNumber(row.expires_at),
    revokedAt: nullableNumber(row.revoked_at),
    models: row.models === null || row.models === undefined ? null : (JSON.parse(String(row.models)) as string[]),
  };
}

export const keyWithSpendFromRow = (row: Record<string, unknown>): KeyWithSpend => ({ ...keyFromRow(row), spent: Number(row.spent ?? 0) });

export function keyParams(key: NewApiKey): Record<string, unknown> {
  return {
    id: key.id,
    secretHash: key.secretHash,
    prefix: key.prefix,
    user: key.user,
    name: key.name,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    models: key.models === null ? null : JSON.stringify(key.models),
  };
}

const nullableNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function budgetFromRow(row: Record<string, unknown>): Budget {
  return { scope: row.scope as Scope, subject: String(row.subject), usd: Number(row.usd), period: row.period as BudgetPeriod };
}

export function limitFromRow(row: Record<string, unknown>): RateLimit {
  const limit: RateLimit = { scope: row.scope as Scope, subject: String(row.subject) };
  if (row.rpm !== null && row.rpm !== undefined) limit.rpm = Number(row.rpm);
  if (row.tpm !== null && row.tpm !== undefined) limit.tpm = Number(row.tpm);
  return limit;
}

export function stateOf(check: BudgetCheck): Omit<BudgetState, 'spent' | 'reserved'> {
  return {
    scope: check.scope,
    subject: check.subject,
    usd: check.usd,
    period: check.period,
    periodStart: check.span.start,
    resetsAt: check.period === 'total' ? null : check.span.end,
  };
}
