import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errorText } from '../common/error-text.js';
import type { DueBatch, QueryRecord, Store } from '../store/types.js';
import { type BillingHeaders, upstreamRequestHeaders } from './header-policy.js';
import { upstreamPath, type Upstream } from './upstream.js';
import { batchOutputLines } from './batch-output-lines.js';
import { chargeOrWarn, type ChargeBudgets } from './charge-budgets.js';

/** Batch states after which a job changes no more; expired, failed and cancelled jobs still count what they completed. */
const TERMINAL = new Set(['completed', 'expired', 'failed', 'cancelled']);

export interface BatchPollerOptions {
  upstream: Upstream;
  store: Store;
  log: Logger;
  /** The organisation's key: the only credential a job is ever polled with. */
  forwardToken: string;
  /** The organisation and project the proxy's calls bill (forward.organization, forward.project), which own the jobs. */
  billing?: BillingHeaders;
  /** How often to look for due jobs, and the first wait between polls of one job (it doubles, up to 64 times this). */
  intervalMs: number;
  /** Adds a result's recorded cost to the creator's budgets (proxy/spend-gate.ts). */
  chargeBudgets?: ChargeBudgets;
}

/**
 * Follows the Batch API jobs created through the proxy until they end, then
 * records each request of the output file as a query of the job's creator,
 * at the batch tier. Every instance runs one; the store's leases give each
 * due job to one of them, and each line is recorded under an id made of the
 * job's and the line's, which a store inserts at most once: a job read twice
 * (a poller that died mid-file, a restart) is never counted twice.
 */
export class BatchPoller {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: BatchPollerOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pollDue().finally(() => {
        this.running = undefined;
      });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Every job that is due now, one after another. */
  async pollDue(): Promise<void> {
    const leaseMs = Math.max(60_000, this.o.intervalMs * 10);
    while (!this.stopped) {
      let job: DueBatch | undefined;
      try {
        job = await this.o.store.leaseDueBatch(Date.now(), leaseMs);
      } catch (err) {
        this.o.log.warn({ err: errorText(err) }, 'could not look for Batch API jobs to poll');
        return;
      }
      if (!job) return;
      await this.poll(job).catch(async (err) => {
        this.o.log.warn({ err: errorText(err), batch: job.id }, 'could not poll a Batch API job; trying again later');
        await this.defer(job).catch(() => undefined);
      });
    }
  }

  private async poll(job: DueBatch): Promise<void> {
    const { statusCode, body } = await this.get(`/v1/batches/${encodeURIComponent(job.id)}`);
    if (statusCode === 404) {
      await body.dump();
      this.o.log.warn({ batch: job.id }, 'the upstream does not know this Batch API job; no longer polled');
      await this.o.store.finishBatch(job.id, 'not_found', Date.now());
      return;
    }
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`GET /v1/batches/${job.id} answered ${statusCode}`);
    }
    const batch = (await body.json()) as { status?: unknown; output_file_id?: unknown };
    const status = typeof batch.status === 'string' ? batch.status : '';
    if (!TERMINAL.has(status)) {
      await this.defer(job);
      return;
    }
    const counted = typeof batch.output_file_id === 'string' ? await this.recordOutput(job, batch.output_file_id) : 0;
    await this.o.store.finishBatch(job.id, status, Date.now());
    this.o.log.info({ batch: job.id, status, user: job.user, requests: counted }, 'Batch API job counted');
  }

  /** Each line of the output file with usage, as a query of the job's creator; the file is read as it streams. */
  private async recordOutput(job: DueBatch, fileId: string): Promise<number> {
    const { statusCode, body } = await this.get(`/v1/files/${encodeURIComponent(fileId)}/content`);
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`GET /v1/files/${fileId}/content answered ${statusCode}`);
    }
    let counted = 0;
    const skipped = (reason: string) => this.o.log.warn({ batch: job.id, reason }, 'skipped a line of a Batch API output file');
    for await (const line of batchOutputLines(body as AsyncIterable<Buffer>, skipped)) {
      if (!line.usage) continue;
      const u = line.usage;
      const record: QueryRecord = {
        user: job.user,
        keyId: job.keyId,
        // The job's prices are those in effect when it was created.
        timestamp: job.createdAt,
        durationMs: 0,
        endpoint: job.endpoint,
        requestedModel: line.model ?? null,
        model: line.model ?? '',
        status: line.statusCode,
        outcome: line.statusCode >= 200 && line.statusCode < 400 ? 'ok' : 'upstream_error',
        promptTokens: u.promptTokens,
        completionTokens: u.completionTokens,
        cachedTokens: u.cachedTokens,
        reasoningTokens: u.reasoningTokens,
        cacheWriteTokens: u.cacheWriteTokens,
        audioPromptTokens: u.audioPromptTokens,
        audioCompletionTokens: u.audioCompletionTokens,
        imagePromptTokens: u.imagePromptTokens,
        imageCompletionTokens: u.imageCompletionTokens,
        acceptedPredictionTokens: u.acceptedPredictionTokens,
        rejectedPredictionTokens: u.rejectedPredictionTokens,
        streamed: false,
        estimated: false,
        serviceTier: 'batch',
        batchId: job.id,
        journalId: `batch:${job.id}:${line.requestId}`,
      };
      const { cost, journaled } = await this.o.store.recordQuery(record);
      // A result recorded before (a file read again) answers no cost; a journaled one is priced only when replayed.
      if (!journaled) await chargeOrWarn(this.o, job, job.createdAt, cost);
      counted++;
    }
    return counted;
  }

  private defer(job: DueBatch): Promise<void> {
    const wait = Math.min(this.o.intervalMs * 2 ** job.attempts, this.o.intervalMs * 64);
    return this.o.store.deferBatch(job.id, Date.now() + wait, job.attempts + 1);
  }

  private get(path: string): Promise<Dispatcher.ResponseData> {
    return this.o.upstream.pool.request({
      method: 'GET',
      path: upstreamPath(this.o.upstream, path, ''),
      headers: upstreamRequestHeaders({}, { forwardToken: this.o.forwardToken, bodyReplaced: false, billing: this.o.billing }),
    });
  }
}
