import type { BudgetPeriod, PeriodSpan } from '../accounting/budget-periods.js';

/** Who a budget or a rate limit is for: everyone (subject ''), one user, or one key (subject = key id). */
export type Scope = 'global' | 'user' | 'key';

export interface Subject {
  scope: Scope;
  subject: string;
}

export interface BudgetSpec {
  usd: number;
  period: BudgetPeriod;
}

/** Requests and tokens per minute; an absent field is no limit. */
export interface RateLimitSpec {
  rpm?: number;
  tpm?: number;
}

/** A key as the proxy checks it; the secret itself is never stored. */
export interface ApiKey {
  id: string;
  user: string;
  name: string | null;
  /** The secret's first characters, to tell keys apart. */
  prefix: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Models the key may call; null for any. */
  models: string[] | null;
}

export interface NewApiKey extends Omit<ApiKey, 'revokedAt'> {
  secretHash: string;
}

export interface Budget extends Subject, BudgetSpec {}
export interface RateLimit extends Subject, RateLimitSpec {}

/** Every budget and rate limit, read as one snapshot (the proxy caches it for under a second). */
export interface AccessPolicies {
  budgets: Budget[];
  limits: RateLimit[];
}

/** A budget as the admission checks it: its spec and the calendar period the call falls in. */
export interface BudgetCheck extends Budget {
  span: PeriodSpan;
}

export interface AdmissionRequest {
  /** Epoch ms the call arrived. */
  at: number;
  /** Names the call's reservations; settle() releases them. */
  holdId: string;
  /** For pricing the reservation with the same prices the call will be recorded at. */
  model: string;
  promptTokens: number;
  outputTokens: number;
  budgets: BudgetCheck[];
  limits: RateLimit[];
  /** Reservations of an instance that died lapse after this long. */
  holdTtlMs: number;
}

/** What an admitted call reserved; settle() turns it into the call's real cost and tokens. */
export interface Hold {
  id: string;
  /** Dollars reserved against each budget. */
  usd: number;
  /** Tokens charged to each tpm window. */
  tokens: number;
  /** The minute window the request and its tokens were counted in. */
  windowStart: number;
  budgets: { scope: Scope; subject: string; periodStart: number; periodEnd: number }[];
  /** The subjects whose tokens-per-minute window counted the call's reserved tokens. */
  limits: Subject[];
}

export interface BudgetRefusal {
  kind: 'budget';
  budget: BudgetCheck;
  spent: number;
  reserved: number;
  /** The reservation this call needed. */
  needed: number;
}

export interface RateRefusal {
  kind: 'rate';
  limit: RateLimit;
  which: 'requests' | 'tokens';
  maximum: number;
  /** What is left in the sliding minute now. */
  remaining: number;
  /** When the call would fit. */
  retryAfterMs: number;
}

export type AdmissionResult = { admitted: true; hold: Hold } | { admitted: false; refusal: BudgetRefusal | RateRefusal };

/** A budget with what has been spent in its current period and what calls in flight hold. */
export interface BudgetState extends Budget {
  periodStart: number;
  resetsAt: number | null;
  spent: number;
  reserved: number;
}

export interface KeyWithSpend extends ApiKey {
  /** Dollars of every call recorded with this key. */
  spent: number;
}

/**
 * Keys, budgets and rate limits, kept in the proxy's database so every
 * instance sees the same ones. admit() is the one place where a budget or a
 * rate limit is checked and charged: atomically across processes and
 * instances, so two calls can never both take the last of a budget.
 */
export interface AccessStore {
  createKey(key: NewApiKey): Promise<void>;
  findKeyByHash(secretHash: string): Promise<ApiKey | undefined>;
  getKey(id: string): Promise<KeyWithSpend | undefined>;
  listKeys(filter: { user?: string }): Promise<KeyWithSpend[]>;
  /** Sets revokedAt (once); undefined for an unknown id. */
  revokeKey(id: string, at: number): Promise<KeyWithSpend | undefined>;

  policies(): Promise<AccessPolicies>;
  putBudget(budget: Budget): Promise<void>;
  deleteBudget(subject: Subject): Promise<boolean>;
  /** The state of the given budgets in the periods given. */
  budgetStates(checks: BudgetCheck[], now: number): Promise<BudgetState[]>;
  putLimit(limit: RateLimit): Promise<void>;
  deleteLimit(subject: Subject): Promise<boolean>;

  admit(request: AdmissionRequest): Promise<AdmissionResult>;
  /** Releases a hold and charges the call's recorded cost and real tokens in its place. */
  settle(hold: Hold, actual: { usd: number; tokens: number }): Promise<void>;
}
