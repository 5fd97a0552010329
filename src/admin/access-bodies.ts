import { BUDGET_PERIODS, type BudgetPeriod } from '../accounting/budget-periods.js';
import { badRequest } from '../http/errors.js';
import type { BudgetSpec, RateLimitSpec } from '../store/access-types.js';
import { requireZonedTimestamp } from '../http/timestamps.js';

/**
 * The bodies of the key, budget and limit routes, checked whole before
 * anything is stored: a rejected request changes nothing, and its 400 names
 * the field at fault.
 */
export interface NewKeyBody {
  user: string;
  name: string | null;
  expiresAt: number | null;
  models: string[] | null;
  budget?: BudgetSpec;
  limits?: RateLimitSpec;
}

const MAX_NAME = 256;
const MAX_MODELS = 256;
/** Far above any real budget; keeps arithmetic on dollars exact enough and refuses typos such as 1e300. */
const MAX_USD = 1e9;
const MAX_PER_MINUTE = 1e12;

const invalid = (field: string, message: string) => badRequest('invalid_field', `'${field}' ${message}`);

function requireObject(body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid_body', `the body must be a JSON object: ${what}`);
  return body as Record<string, unknown>;
}

function rejectUnknown(obj: Record<string, unknown>, known: string[], prefix = ''): void {
  for (const field of Object.keys(obj)) {
    if (!known.includes(field)) throw invalid(prefix + field, `is not a field here; known: ${known.join(', ')}`);
  }
}

/** A user or key name: what x-user accepts. */
export function requireName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(field, 'must be a non-empty string');
  const name = value.trim();
  if (name.length > MAX_NAME) throw invalid(field, `must be at most ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw invalid(field, 'must not contain control characters');
  return name;
}

export function parseNewKeyBody(body: unknown, now: number): NewKeyBody {
  const b = requireObject(body, '{"user": "adam", "name"?, "expiresAt"?, "models"?, "budget"?, "limits"?}');
  rejectUnknown(b, ['user', 'name', 'expiresAt', 'models', 'budget', 'limits']);
  const parsed: NewKeyBody = {
    user: requireName('user', b.user),
    name: b.name === undefined || b.name === null ? null : requireName('name', b.name),
    expiresAt: null,
    models: null,
  };
  if (b.expiresAt !== undefined && b.expiresAt !== null) {
    parsed.expiresAt = requireZonedTimestamp("'expiresAt'", b.expiresAt);
    if (parsed.expiresAt <= now) throw invalid('expiresAt', 'must be in the future');
  }
  if (b.models !== undefined && b.models !== null) parsed.models = parseModels(b.models);
  if (b.budget !== undefined && b.budget !== null) parsed.budget = parseBudgetSpec(b.budget, 'budget.');
  if (b.limits !== undefined && b.limits !== null) parsed.limits = parseLimitSpec(b.limits, 'limits.');
  return parsed;
}

function parseModels(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid('models', 'must be a non-empty list of model names');
  if (value.length > MAX_MODELS) throw invalid('models', `may name at most ${MAX_MODELS} models`);
  return [...new Set(value.map((m, i) => requireName(`models[${i}]`, m)))];
}

export function parseBudgetSpec(body: unknown, prefix = ''): BudgetSpec {
  const b = requireObject(body, '{"usd": 50, "period": "month"}');
  rejectUnknown(b, ['usd', 'period'], prefix);
  if (typeof b.usd !== 'number' || !Number.isFinite(b.usd) || b.usd < 0 || b.usd > MAX_USD) {
    throw invalid(`${prefix}usd`, `must be a number of dollars from 0 to ${MAX_USD}`);
  }
  if (!BUDGET_PERIODS.includes(b.period as BudgetPeriod)) throw invalid(`${prefix}period`, `must be one of ${BUDGET_PERIODS.join(', ')}`);
  return { usd: b.usd, period: b.period as BudgetPeriod };
}

export function parseLimitSpec(body: unknown, prefix = ''): RateLimitSpec {
  const b = requireObject(body, '{"rpm"?: 60, "tpm"?: 100000}');
  rejectUnknown(b, ['rpm', 'tpm'], prefix);
  const spec: RateLimitSpec = {};
  for (const field of ['rpm', 'tpm'] as const) {
    const v = b[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_PER_MINUTE) {
      throw invalid(prefix + field, `must be a whole number per minute from 1 to ${MAX_PER_MINUTE}`);
    }
    spec[field] = v;
  }
  if (spec.rpm === undefined && spec.tpm === undefined) throw invalid(`${prefix}rpm`, 'or tpm must be given');
  return spec;
}
