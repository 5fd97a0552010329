import type { AccessStore } from './access-types.js';
import type { ModelPrices, Price, PriceSource } from '../accounting/price.js';

/**
 * How a call ended. `ok` and `upstream_error` are answers relayed whole; the
 * rest are calls broken off or never answered (see proxy/call-failures.ts).
 * Rows imported from the original proxy are `ok` or `upstream_error`.
 */
export type CallOutcome =
  | 'ok'
  | 'upstream_error'
  | 'timeout'
  | 'upstream_aborted'
  | 'upstream_bad_answer'
  | 'upstream_closed'
  | 'client_aborted'
  | 'shutdown'
  | 'unreachable';

/** The tokens of one call, as the upstream reported them (or as estimated). Declared once for every layer. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/**
 * The parts of a call OpenAI bills at their own rates, besides the four token
 * counts: each token detail is a part of promptTokens or completionTokens.
 * Absent means 0 (records written before these existed, journal lines of an
 * older version).
 */
export interface BilledDetails {
  cacheWriteTokens?: number;
  audioPromptTokens?: number;
  audioCompletionTokens?: number;
  imagePromptTokens?: number;
  imageCompletionTokens?: number;
  acceptedPredictionTokens?: number;
  rejectedPredictionTokens?: number;
  /** Audio of a transcription billed by duration. */
  audioSeconds?: number;
  /** Characters of a speech request's input. */
  inputCharacters?: number;
  webSearchCalls?: number;
  fileSearchCalls?: number;
  codeInterpreterContainers?: number;
}

export const BILLED_DETAILS = [
  'cacheWriteTokens',
  'audioPromptTokens',
  'audioCompletionTokens',
  'imagePromptTokens',
  'imageCompletionTokens',
  'acceptedPredictionTokens',
  'rejectedPredictionTokens',
  'audioSeconds',
  'inputCharacters',
  'webSearchCalls',
  'fileSearchCalls',
  'codeInterpreterContainers',
] as const satisfies readonly (keyof BilledDetails)[];

/** The facts of one forwarded call; cost is derived from prices by the store. */
export interface QueryRecord extends TokenCounts, BilledDetails {
  /** The service tier the answer named (`flex`, `priority`, ...; `batch` for Batch API results); null when it named none. */
  serviceTier?: string | null;
  /** The Batch API job whose output this row counts. */
  batchId?: string | null;
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
  /** The proxy key the call was made with (access control); null or absent for an x-user call. */
  keyId?: string | null;
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
  /** Calls made with one proxy key. */
  key?: string;
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
  /** Calls at a tier that had no price of its own, priced at the default tier's. */
  tierFallbackQueries: number;
  /** Calls whose tokens the proxy counted itself because the upstream reported no usage. */
  estimatedQueries: number;
}

/** What /usage can be grouped by: who, what, where, and when (in a time zone). */
export type GroupField = 'user' | 'model' | 'endpoint' | 'key' | 'hour' | 'day' | 'month';

export interface UsageGrouping {
  /** One or two distinct fields, at most one of them a time field. */
  fields: GroupField[];
  /** An IANA zone name: where an hour, day or month starts. */
  timeZone: string;
  /** Groups beyond this many make the read fail rather than hold them all in memory. */
  maxGroups: number;
}

/** One group of a grouped usage read: its field values (a time as the local ISO instant it starts) and its sums. */
export interface UsageGroup {
  /** The group's value of each field; `key` is null for calls made without a key. */
  keys: Partial<Record<GroupField, string | null>>;
  usage: UsageSummary;
}

export interface QueryRow extends Omit<QueryRecord, keyof BilledDetails | 'serviceTier' | 'batchId'>, Required<BilledDetails> {
  id: number;
  cost: number;
  priced: boolean;
  serviceTier: string | null;
  batchId: string | null;
  /** Priced at the default tier's rates though it ran at another tier. */
  tierFallback: boolean;
  /** A fine-tuned model priced at its base model's rates: that base model. */
  pricedAtBaseModel: string | null;
}

/** A Batch API job created through the proxy, and who created it. */
export interface BatchJob {
  id: string;
  user: string;
  /** The proxy key it was created with; null for an x-user call. Its results are recorded under that key too. */
  keyId: string | null;
  endpoint: string;
  /** Epoch ms; its results are priced at the prices valid then. */
  createdAt: number;
}

export interface DueBatch extends BatchJob {
  /** Polls so far, for the backoff. */
  attempts: number;
}

export interface Page {
  limit?: number;
  offset?: number;
  /** Newest first (the dashboard's recent queries); oldest first otherwise. */
  newestFirst?: boolean;
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

/** A call replayed from the journal: its id is stored with the row, so replaying it twice inserts it once. */
export interface JournaledRecord {
  query: QueryRecord;
  journalId: string;
  rateLimits?: RateLimitSnapshot;
  /** Set when a first attempt's COMMIT went unanswered: skipped if that transaction did commit. */
  inDoubtTxid?: string;
}

/**
 * The one async interface every store implements; the proxy and the admin API
 * see nothing else. recordQuery resolves only once the row is committed.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Keys, budgets and rate limits, on the same database (and connection or pool) as the ledger. */
  readonly access: AccessStore;
  recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery>;
  /** Journal replay: many calls in one transaction; entries already in the table are skipped. */
  recordJournaled(entries: JournaledRecord[]): Promise<void>;
  /**
   * Work that needs the database and was left undone: the schema (a store
   * opened during an outage migrates once the database answers) and the
   * re-pricing an earlier run did not finish. Rejects while the database
   * cannot be reached; run again until it resolves.
   */
  catchUp(): Promise<void>;
  putPrice(model: string, price: Price, source: PriceSource): Promise<void>;
  /** Replaces every catalog price at once (start-up). */
  replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void>;
  getModel(name: string): Promise<ModelPrices | undefined>;
  listModels(): Promise<ModelPrices[]>;
  usage(filter: QueryFilter): Promise<UsageSummary>;
  /** Usage per group (user, model, endpoint, local hour/day/month); throws TooManyGroupsError past grouping.maxGroups. */
  usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]>;
  /** Matching rows oldest first (or newest first), in batches, so callers can stream millions of rows. */
  queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]>;
  userExists(name: string): Promise<boolean>;
  rateLimits(): Promise<StoredRateLimits>;
  /** Remembers a Batch API job to poll; the first creator recorded wins. */
  rememberBatch(job: BatchJob, firstPollAt: number): Promise<void>;
  /** A job due for polling, leased to the caller for leaseMs (no other instance gets it meanwhile); undefined when none is due. */
  leaseDueBatch(now: number, leaseMs: number): Promise<DueBatch | undefined>;
  /** Not finished yet: polled again from nextPollAt, by any instance. */
  deferBatch(id: string, nextPollAt: number, attempts: number): Promise<void>;
  /** Its results are counted: never polled again. */
  finishBatch(id: string, finalStatus: string, finishedAt: number): Promise<void>;
  /** The latest rate-limit headers of each answered model, by model name. */
  modelRateLimits(): Promise<Map<string, StoredRateLimits>>;
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
