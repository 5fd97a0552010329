import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the proxy knows about one forwarded call once it has ended (recorded or not). */
export interface EndedCall {
  endpoint: string;
  model: string;
  status: number;
  outcome: string;
  user: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  cost: number;
  /** From arrival to the end of the proxy's work on it. */
  totalMs: number;
  /** Of which the upstream: from sending the request to the answer's last byte (0 when it never answered). */
  upstreamMs: number;
}

/** What the hot path reports to; the no-op one when metrics are off. */
export interface CallMetrics {
  callEnded(call: EndedCall): void;
  /** How long recordQuery took to commit one call (database or journal). */
  storeWrite(ms: number): void;
}

export const NO_CALL_METRICS: CallMetrics = { callEnded() {}, storeWrite() {} };

export interface PrometheusOptions {
  /** A user label on call, token and cost counters: one series per user, so off by default. */
  userLabel: boolean;
  inflightCalls: () => number;
  journalBacklog: () => number;
  /** Distinct values kept per label before further ones are counted as "other". */
  maxLabelValues?: number;
}

/** Latency buckets in seconds: the proxy's own share is sub-millisecond, the upstream's seconds to minutes. */
const ADDED_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const WRITE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/**
 * Prometheus metrics of one proxy process, in a registry of its own (no
 * global state: two proxies in one process, as in tests, do not mix).
 *
 * Labels a caller controls (model names, request paths, users) are bounded:
 * ids in paths become {id}, paths outside the OpenAI API become "other", and
 * after maxLabelValues distinct values of a label the rest are "other", so a
 * caller inventing model names cannot grow the scrape without end.
 */
export class PrometheusMetrics implements CallMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<string>;
  private readonly tokens: Counter<string>;
  private readonly cost: Counter<string>;
  private readonly added: Histogram<string>;
  private readonly upstream: Histogram<string>;
  private readonly writes: Histogram<string>;
  private readonly userLabel: boolean;
  private readonly models: BoundedLabel;
  private readonly users: BoundedLabel;
  private readonly endpoints = new Map<string, string>();

  constructor(opts: PrometheusOptions) {
    const registers = [this.registry];
    this.userLabel = opts.userLabel;
    const max = opts.maxLabelValues ?? 500;
    this.models = new BoundedLabel(max);
    this.users = new BoundedLabel(max);
    const user = this.userLabel ? ['user'] : [];
    this.calls = new Counter({
      name: 'openai_proxy_calls_total',
      help: 'Calls forwarded to the upstream, by endpoint, model, HTTP status and outcome',
      labelNames: ['endpoint', 'model', 'status', 'outcome', ...user],
      registers,
    });
    this.tokens = new Counter({
      name: 'openai_proxy_tokens_total',
      help: 'Tokens recorded, by model and kind (prompt, completion, cached, reasoning)',
      labelNames: ['model', 'kind', ...user],
      registers,
    });
    this.cost = new Counter({
      name: 'openai_proxy_cost_dollars_total',
      help: 'Cost recorded in US dollars, by model',
      labelNames: ['model', ...user],
      registers,
    });
    this.added = new Histogram({
      name: 'openai_proxy_added_latency_seconds',
      help: "Time a call spent in the proxy, the upstream's time excluded (recording included)",
      labelNames: ['endpoint'],
      buckets: ADDED_BUCKETS,
      registers,
    });
    this.upstream = new Histogram({
      name: 'openai_proxy_upstream_latency_seconds',
      help: 'Time from sending a call upstream to the last byte of its answer',
      labelNames: ['endpoint'],
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.writes = new Histogram({
      name: 'openai_proxy_store_write_seconds',
      help: 'Time to commit one call to the database or the journal',
      buckets: WRITE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'openai_proxy_journal_backlog',
      help: 'Calls in the local journal waiting to be written to the database',
      registers,
      collect() {
        this.set(opts.journalBacklog());
      },
    });
    new Gauge({
      name: 'openai_proxy_inflight_calls',
      help: 'Calls being forwarded right now',
      registers,
      collect() {
        this.set(opts.inflightCalls());
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  callEnded(c: EndedCall): void {
    const endpoint = this.endpointLabel(c.endpoint);
    const model = this.models.of(c.model);
    if (this.userLabel) {
      const user = this.users.of(c.user);
      this.calls.inc({ endpoint, model, status: c.status, outcome: c.outcome, user });
      this.countTokens(model, c, user);
      if (c.cost > 0) this.cost.inc({ model, user }, c.cost);
    } else {
      this.calls.inc({ endpoint, model, status: c.status, outcome: c.outcome });
      this.countTokens(model, c);
      if (c.cost > 0) this.cost.inc({ model }, c.cost);
    }
    this.upstream.observe({ endpoint }, c.upstreamMs / 1000);
    this.added.observe({ endpoint }, Math.max(0, c.totalMs - c.upstreamMs) / 1000);
  }

  storeWrite(ms: number): void {
    this.writes.observe(ms / 1000);
  }

  /** The text a scrape gets. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private countTokens(model: string, c: EndedCall, user?: string): void {
    const add = (kind: string, n: number) => {
      if (n > 0) this.tokens.inc(user === undefined ? { model, kind } : { model, kind, user }, n);
    };
    add('prompt', c.promptTokens);
    add('completion', c.completionTokens);
    add('cached', c.cachedTokens);
    add('reasoning', c.reasoningTokens);
  }

  private endpointLabel(path: string): string {
    let label = this.endpoints.get(path);
    if (label === undefined) {
      label = endpointLabel(path);
      // Paths with ids are endless; only the first thousand are remembered.
      if (this.endpoints.size < 1000) this.endpoints.set(path, label);
    }
    return label;
  }
}

/** The OpenAI API's top-level resources: other paths are counted as /v1/other. */
const API_ROOTS = new Set([
  'chat',
  'completions',
  'responses',
  'embeddings',
  'images',
  'audio',
  'moderations',
  'models',
  'files',
  'uploads',
  'batches',
  'fine_tuning',
  'vector_stores',
  'assistants',
  'threads',
  'realtime',
  'containers',
  'conversations',
  'evals',
  'organization',
  'videos',
]);

/** /v1/files/file-abc123/content -> /v1/files/{id}/content: a label per kind of call, not per object. */
export function endpointLabel(path: string): string {
  const segments = path.split('/').slice(2, 6);
  if (!path.startsWith('/v1/') || !API_ROOTS.has(segments[0])) return '/v1/other';
  return `/v1/${segments.map((s) => (/\d/.test(s) || s.length > 40 ? '{id}' : s)).join('/')}`;
}

/** The first `max` distinct values of a label as they are, the rest as "other". */
class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}
