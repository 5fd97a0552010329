import { randomUUID } from 'node:crypto';
import { BILLED_DETAILS, type CallOutcome, type QueryRecord, type RateLimitSnapshot, type RateLimitWindow } from '../types.js';

/** One call the database could not take: a line of the journal. */
export interface JournalEntry {
  /** Stored with the row on replay, so replaying an entry twice inserts it once. */
  id: string;
  query: QueryRecord;
  rateLimits?: RateLimitSnapshot;
  /** The transaction that may have committed this call already (its COMMIT's answer was lost); replay asks first. */
  inDoubtTxid?: string;
}

const FORMAT = 1;

/** A record that already has an id (a Batch API result line) keeps it, so the journal cannot count it a second time. */
export function newJournalEntry(query: QueryRecord, rateLimits?: RateLimitSnapshot, inDoubtTxid?: string): JournalEntry {
  return { id: query.journalId ?? randomUUID(), query, rateLimits, inDoubtTxid };
}

export function encodeJournalEntry(entry: JournalEntry): Buffer {
  return Buffer.from(`${JSON.stringify({ v: FORMAT, id: entry.id, query: entry.query, rateLimits: entry.rateLimits, inDoubtTxid: entry.inDoubtTxid })}\n`);
}

const STRING_FIELDS = ['user', 'endpoint', 'model', 'outcome'] as const;
const NUMBER_FIELDS = ['timestamp', 'durationMs', 'status', 'promptTokens', 'completionTokens', 'cachedTokens', 'reasoningTokens'] as const;
const BOOLEAN_FIELDS = ['streamed', 'estimated'] as const;

/** The entry a journal line holds, or undefined when the line is not one (the file is input like any other). */
export function decodeJournalEntry(line: string): JournalEntry | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(raw) || raw.v !== FORMAT || typeof raw.id !== 'string' || raw.id === '' || !isObject(raw.query)) return undefined;
  const q = raw.query;
  if (!STRING_FIELDS.every((f) => typeof q[f] === 'string')) return undefined;
  if (!NUMBER_FIELDS.every((f) => typeof q[f] === 'number' && Number.isFinite(q[f]))) return undefined;
  if (!BOOLEAN_FIELDS.every((f) => typeof q[f] === 'boolean')) return undefined;
  if (q.requestedModel !== null && typeof q.requestedModel !== 'string') return undefined;
  if (q.keyId !== undefined && q.keyId !== null && typeof q.keyId !== 'string') return undefined;
  const query: QueryRecord = {
    user: q.user as string,
    timestamp: q.timestamp as number,
    durationMs: q.durationMs as number,
    endpoint: q.endpoint as string,
    requestedModel: q.requestedModel as string | null,
    model: q.model as string,
    status: q.status as number,
    outcome: q.outcome as CallOutcome,
    promptTokens: q.promptTokens as number,
    completionTokens: q.completionTokens as number,
    cachedTokens: q.cachedTokens as number,
    reasoningTokens: q.reasoningTokens as number,
    streamed: q.streamed as boolean,
    estimated: q.estimated as boolean,
    keyId: (q.keyId as string | null | undefined) ?? null,
  };
  // Written by this version or later; a line of an older one has none of them (0, no tier).
  for (const f of BILLED_DETAILS) {
    const v = q[f];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) query[f] = v;
  }
  if (typeof q.serviceTier === 'string') query.serviceTier = q.serviceTier;
  if (typeof q.batchId === 'string') query.batchId = q.batchId;
  const inDoubtTxid = typeof raw.inDoubtTxid === 'string' && /^\d+$/.test(raw.inDoubtTxid) ? raw.inDoubtTxid : undefined;
  return { id: raw.id, query, rateLimits: decodeRateLimits(raw.rateLimits), inDoubtTxid };
}

function decodeRateLimits(raw: unknown): RateLimitSnapshot | undefined {
  if (!isObject(raw) || typeof raw.observedAt !== 'number') return undefined;
  return { observedAt: raw.observedAt, requests: decodeWindow(raw.requests), tokens: decodeWindow(raw.tokens) };
}

function decodeWindow(raw: unknown): RateLimitWindow | undefined {
  if (!isObject(raw)) return undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return { maximum: n(raw.maximum), remaining: n(raw.remaining), reset: n(raw.reset) };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
