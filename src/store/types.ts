import type { RateLimitSnapshot, RateLimitWindow } from '../proxy/rate-limit-headers.js';

/** The facts of one forwarded call; cost is derived from prices by the store. */
export interface QueryRecord {
  user: string;
  /** Epoch ms when the call arrived; decides which price applies. */
  timestamp: number;
  durationMs: number;
  endpoint: string;
  requestedModel: string | null;
  /** The model the upstream named in its answer, else the requested one, else ''. */
  model: string;
  status: number;
  /** ok | upstream_error | timeout | upstream_aborted | client_aborted | shutdown */
  outcome: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
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

export type PriceSource = 'admin' | 'catalog';

export interface Price {
  validFrom: number;
  per1KQueryTokens: number;
  per1KAnswerTokens: number;
  per1KCachedQueryTokens: number | null;
}

export interface ModelPrices {
  name: string;
  admin: Price[];
  catalog: Price[];
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
