import type { ModelPrices, Price, PriceSource } from '../accounting/price.js';

/**
 * How a call ended. `ok` and `upstream_error` are answers relayed whole; the
 * rest are calls broken off or never answered (see proxy/call-failures.ts).
 * Rows imported from the original proxy are `ok` or `upstream_error`.
 */
export type CallOutcome = 'ok' | 'upstream_error' | 'timeout' | 'upstream_aborted' | 'client_aborted' | 'shutdown' | 'unreachable';

/** The tokens of one call, as the upstream reported them (or as estimated). Declared once for every layer. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** The facts of one forwarded call; cost is derived from prices by the store. */
export interface QueryRecord extends TokenCounts {
  user: string;
  /** Epoch ms when the call arrived; decides which price applies. */
  timestamp: number;
  durationMs: number;
  endpoint: string;
  requestedModel: string | null;
  /** The model the upstream named in its answer, else the requested one, else ''. */
  model: string;
  status: number;
  outcome: CallOutcome;
  streamed: boolean;
  estimated: boolean;
  /** Set when the record is replayed from the journal: a store inserts a given id at most once. */
  journalId?: string;
}

export interface RecordedQuery {
  cost: number;
  priced: boolean;
  /** Kept in the local journal because the database could not take it; cost is known once replayed. */
  journaled?: boolean;
}

/** Which successful/failed calls a read covers. */
export type StatusFilter = 'ok' | 'error' | 'all';

export interface QueryFilter {
  user?: string;
  after?: number;
  before?: number;
  endpoint?: string;
  model?: string;
  status: StatusFilter;
}

export interface UsageSummary {
  numQueries: number;
  queryTokens: number;
  answerTokens: number;
  cachedQueryTokens: number;
  reasoningTokens: number;
  cost: number;
  unpricedQueries: number;
}

export interface QueryRow extends QueryRecord {
  id: number;
  cost: number;
  priced: boolean;
}

export interface Page {
  limit?: number;
  offset?: number;
}

/** The upstream's rate-limit headers of one answer, as the store keeps them. */
export interface RateLimitWindow {
  maximum: number | null;
  remaining: number | null;
  /** Epoch ms when the window resets, or null when the header was missing or unparsable. */
  reset: number | null;
}

export interface RateLimitSnapshot {
  observedAt: number;
  requests?: RateLimitWindow;
  tokens?: RateLimitWindow;
}

export type StoredRateLimits = { requests?: RateLimitWindow; tokens?: RateLimitWindow };

/**
 * The one async interface every store implements; the proxy and the admin API
 * see nothing else. recordQuery resolves only once the row is committed.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery>;
  putPrice(model: string, price: Price, source: PriceSource): Promise<void>;
  /** Replaces every catalog price at once (start-up). */
  replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void>;
  getModel(name: string): Promise<ModelPrices | undefined>;
  listModels(): Promise<ModelPrices[]>;
  usage(filter: QueryFilter): Promise<UsageSummary>;
  /** Matching rows oldest first, in batches, so callers can stream millions of rows. */
  queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]>;
  userExists(name: string): Promise<boolean>;
  rateLimits(): Promise<StoredRateLimits>;
  close(): Promise<void>;
}

/** What GET /health shows. */
export interface DurabilityHealth {
  status: 'ok' | 'degraded';
  /** False while neither the database nor the journal can be written: new calls get 503. */
  acceptingCalls: boolean;
  database: { kind: string; writable: boolean; lastError?: string };
  journal: { path: string; pending: number; writable: boolean; lastError?: string };
  /** Answered calls that could be written nowhere yet; kept in memory and retried. */
  unsaved: number;
}

/** The cheap check the proxy makes before forwarding a call: a flag, no round trip. */
export interface CommitGate {
  canCommit(): boolean;
}

export interface Durability extends CommitGate {
  health(): DurabilityHealth;
}
