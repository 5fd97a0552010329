import type { Logger } from 'pino';
import { errorText } from '../../common/error-text.js';
import { CommitInDoubtError, StoreUnavailableError } from '../errors.js';
import type { ModelPrices, Price, PriceSource } from '../../accounting/price.js';
import type {
  BatchJob,
  DueBatch,
  Durability,
  DurabilityHealth,
  JournaledRecord,
  Page,
  QueryFilter,
  RateLimitSnapshot,
  QueryRecord,
  QueryRow,
  RecordedQuery,
  Store,
  StoredRateLimits,
  UsageGroup,
  UsageGrouping,
  UsageSummary,
} from '../types.js';
import { JournalFile } from './journal-file.js';
import { decodeJournalEntry, encodeJournalEntry, newJournalEntry, type JournalEntry } from './journal-entry.js';

export interface JournalingOptions {
  journalPath: string;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** First retry after a failure; doubles up to retryMaxMs while the failure lasts. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Calls answered while neither the database nor the journal took writes, kept in memory until one does. */
  maxUnsaved?: number;
  /**
   * Start-up work that needs the database beyond the store's own (the catalog's prices), run after the store has
   * caught up and before the journal is replayed; until both have succeeded, /health says degraded.
   */
  catchUp?: () => Promise<void>;
}

/** Journal lines written to the database per transaction when replaying (group commit). */
const REPLAY_BATCH = 500;

/**
 * A Store decorator that makes "committed" mean "in the database, or in a
 * local journal that is replayed into it".
 *
 * recordQuery writes to the database while it works. When a write fails, that
 * call and the ones after it are appended to the journal (one fsync'd line
 * each) until a background pass has replayed the journal into the database.
 * Replay is idempotent: every entry carries an id that the store keeps with
 * the row (a unique column), so an entry replayed twice, after a crash in the
 * middle of a pass, is inserted once. The file is emptied only when it has
 * been replayed to its end and nothing was appended meanwhile.
 *
 * The database need not be reachable when the proxy starts: calls go to the
 * journal until the store has caught up (schema, unfinished re-prices, the
 * catalog's prices), which every retry pass tries first. Replay runs in the
 * background, in batches of one transaction each, so the proxy listens at
 * once however long the journal is.
 *
 * If the journal cannot be written either, the call is kept in memory and
 * retried, recordQuery rejects (the proxy breaks off that answer), and
 * canCommit() turns false so new calls are refused before they are forwarded.
 * Both flags recover by themselves as soon as a retry succeeds.
 */
export class JournalingStore implements Store, Durability {
  readonly kind: Store['kind'];
  readonly access: Store['access'];
  private storeWritable = true;
  private journalWritable = true;
  private lastStoreError?: string;
  private lastJournalError?: string;
  private pending: number;
  /** Offset up to which this process has replayed the journal (idempotency covers a restart from 0). */
  private replayedThrough = 0;
  private readonly unsaved: JournalEntry[] = [];
  private retryDelayMs: number;
  private retryTimer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private closed = false;
  private caughtUp = false;
  private readonly catchUpWork?: () => Promise<void>;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly maxUnsaved: number;

  private constructor(
    private readonly inner: Store,
    private readonly journal: JournalFile,
    pending: number,
    private readonly log: JournalingOptions['log'],
    opts: JournalingOptions,
  ) {
    this.kind = inner.kind;
    // Keys, budgets and limits are checked before a call is forwarded: they are the database's, never journaled.
    this.access = inner.access;
    this.pending = pending;
    this.retryInitialMs = opts.retryInitialMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 2_000;
    this.maxUnsaved = opts.maxUnsaved ?? 10_000;
    this.retryDelayMs = this.retryInitialMs;
    this.catchUpWork = opts.catchUp;
  }

  /**
   * Opens the journal, tries once to bring the database up to date (with the database up, prices are current before
   * the first call), and starts replaying in the background whatever a previous run left in the journal. The
   * database may be down: then all of it happens once it answers.
   */
  static async open(inner: Store, opts: JournalingOptions): Promise<JournalingStore> {
    const journal = await JournalFile.open(opts.journalPath, opts.log);
    let pending = 0;
    for await (const _line of journal.linesFrom(0)) pending++;
    const store = new JournalingStore(inner, journal, pending, opts.log, opts);
    if (pending > 0) opts.log.info(`journal ${opts.journalPath} holds ${pending} calls from an earlier run; replaying them into the database`);
    if ((await store.tryCatchUp()) && pending > 0) void store.runPass();
    return store;
  }

  canCommit(): boolean {
    return this.storeWritable || this.journalWritable;
  }

  health(): DurabilityHealth {
    const healthy = this.caughtUp && this.storeWritable && this.journalWritable && this.pending === 0 && this.unsaved.length === 0;
    return {
      status: healthy ? 'ok' : 'degraded',
      acceptingCalls: this.canCommit(),
      database: { kind: this.kind, writable: this.storeWritable, ...(this.storeWritable ? {} : { lastError: this.lastStoreError }) },
      journal: {
        path: this.journal.path,
        pending: this.pending,
        writable: this.journalWritable,
        ...(this.journalWritable ? {} : { lastError: this.lastJournalError }),
      },
      unsaved: this.unsaved.length,
    };
  }

  async recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    let inDoubtTxid: string | undefined;
    if (this.storeWritable) {
      try {
        return await this.inner.recordQuery(query, rateLimits);
      } catch (err) {
        this.storeFailed(err);
        if (err instanceof CommitInDoubtError) inDoubtTxid = err.txid;
      }
    }
    const entry = newJournalEntry(query, rateLimits, inDoubtTxid);
    try {
      await this.journal.append(encodeJournalEntry(entry));
    } catch (err) {
      this.journalFailed(err);
      this.keepUnsaved(entry);
      throw new StoreUnavailableError('neither the database nor the journal could be written', err);
    }
    this.pending++;
    this.journalWritable = true;
    this.scheduleRetry();
    return { cost: 0, priced: false, journaled: true };
  }

  recordJournaled(entries: JournaledRecord[]): Promise<void> {
    return this.guard(() => this.inner.recordJournaled(entries));
  }

  catchUp(): Promise<void> {
    return this.guard(() => this.inner.catchUp());
  }

  putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    return this.guard(() => this.inner.putPrice(model, price, source));
  }

  replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    return this.guard(() => this.inner.replaceCatalogPrices(prices));
  }

  getModel(name: string): Promise<ModelPrices | undefined> {
    return this.guard(() => this.inner.getModel(name));
  }

  listModels(): Promise<ModelPrices[]> {
    return this.guard(() => this.inner.listModels());
  }

  usage(filter: QueryFilter): Promise<UsageSummary> {
    return this.guard(() => this.inner.usage(filter));
  }

  usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    return this.guard(() => this.inner.usageGroups(filter, grouping));
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    try {
      yield* this.inner.queries(filter, page);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  userExists(name: string): Promise<boolean> {
    return this.guard(() => this.inner.userExists(name));
  }

  rateLimits(): Promise<StoredRateLimits> {
    return this.guard(() => this.inner.rateLimits());
  }

  rememberBatch(job: BatchJob, firstPollAt: number): Promise<void> {
    return this.guard(() => this.inner.rememberBatch(job, firstPollAt));
  }

  leaseDueBatch(now: number, leaseMs: number): Promise<DueBatch | undefined> {
    return this.guard(() => this.inner.leaseDueBatch(now, leaseMs));
  }

  deferBatch(id: string, nextPollAt: number, attempts: number): Promise<void> {
    return this.guard(() => this.inner.deferBatch(id, nextPollAt, attempts));
  }

  finishBatch(id: string, finalStatus: string, finishedAt: number): Promise<void> {
    return this.guard(() => this.inner.finishBatch(id, finalStatus, finishedAt));
  }

  modelRateLimits(): Promise<Map<string, StoredRateLimits>> {
    return this.guard(() => this.inner.modelRateLimits());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.pass;
    await this.saveUnsaved();
    for (const entry of this.unsaved.splice(0)) {
      // The last place it can go: an operator can re-enter it from the log.
      this.log.error({ journalEntry: entry }, 'a call could be written neither to the database nor to the journal');
    }
    await this.journal.close();
    await this.inner.close();
  }

  /** Runs one retry pass now (tests and start-up); the background schedule does the same. */
  async runPass(): Promise<void> {
    this.pass ??= this.retry().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  private async retry(): Promise<void> {
    if (!this.caughtUp && !(await this.tryCatchUp())) return;
    const before = { pending: this.pending, unsaved: this.unsaved.length };
    await this.saveUnsaved();
    await this.replayJournal();
    if (!this.journalWritable && this.unsaved.length === 0) {
      try {
        await this.journal.probe();
        this.journalRecovered();
      } catch (err) {
        this.lastJournalError = errorText(err);
      }
    }
    const progressed = this.pending < before.pending || this.unsaved.length < before.unsaved;
    this.retryDelayMs = progressed ? this.retryInitialMs : Math.min(this.retryDelayMs * 2, this.retryMaxMs);
    if (this.pending === 0 && this.unsaved.length === 0 && this.journalWritable) {
      // Nothing left to write: the next real call tells whether the database works.
      this.storeWritable = true;
      return;
    }
    this.scheduleRetry();
  }

  /** The store's catch-up, then ours; on failure calls go to the journal and a retry is scheduled. */
  private async tryCatchUp(): Promise<boolean> {
    try {
      await this.inner.catchUp();
      await this.catchUpWork?.();
    } catch (err) {
      this.storeFailed(err);
      return false;
    }
    this.caughtUp = true;
    return true;
  }

  /** Calls held in memory go to the database if it works again, else to the journal if that does. */
  private async saveUnsaved(): Promise<void> {
    while (this.unsaved.length > 0) {
      const entry = this.unsaved[0];
      try {
        await this.inner.recordJournaled([{ query: entry.query, journalId: entry.id, rateLimits: entry.rateLimits, inDoubtTxid: entry.inDoubtTxid }]);
        this.storeRecovered();
      } catch (storeErr) {
        this.lastStoreError = errorText(storeErr);
        try {
          await this.journal.append(encodeJournalEntry(entry));
          this.pending++;
          this.journalRecovered();
        } catch (journalErr) {
          this.lastJournalError = errorText(journalErr);
          return;
        }
      }
      this.unsaved.shift();
    }
  }

  private async replayJournal(): Promise<void> {
    if (this.pending === 0) return;
    let batch: JournaledRecord[] = [];
    let lines = 0;
    let batchEnd = this.replayedThrough;
    const write = async () => {
      if (batch.length > 0) {
        await this.inner.recordJournaled(batch);
        this.storeRecovered();
      }
      this.replayedThrough = batchEnd;
      this.pending -= lines;
      batch = [];
      lines = 0;
    };
    try {
      for await (const line of this.journal.linesFrom(this.replayedThrough)) {
        const entry = decodeJournalEntry(line.text);
        if (entry) batch.push({ query: entry.query, journalId: entry.id, rateLimits: entry.rateLimits, inDoubtTxid: entry.inDoubtTxid });
        else this.log.error({ line: line.text.slice(0, 2000) }, `journal ${this.journal.path}: skipped a line that is not a journal entry`);
        lines++;
        batchEnd = line.end;
        if (batch.length >= REPLAY_BATCH) {
          await write();
          // Closing: what is written so far stays written; the rest waits in the journal for the next run.
          if (this.closed) return;
        }
      }
      await write();
    } catch (err) {
      this.storeFailed(err);
      return;
    }
    if (await this.journal.emptyIfFullyRead(this.replayedThrough).catch(() => false)) {
      this.replayedThrough = 0;
      this.log.info(`journal ${this.journal.path}: every call in it is now in the database`);
    }
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.runPass();
    }, this.retryDelayMs);
    this.retryTimer.unref();
  }

  private storeFailed(err: unknown): void {
    this.lastStoreError = errorText(err);
    if (this.storeWritable) {
      this.storeWritable = false;
      this.log.error({ err: this.lastStoreError }, `the database cannot be written; calls are kept in the journal ${this.journal.path} until it can`);
    }
    this.scheduleRetry();
  }

  private storeRecovered(): void {
    if (!this.storeWritable) {
      this.storeWritable = true;
      this.log.info('the database takes writes again');
    }
  }

  private journalFailed(err: unknown): void {
    this.lastJournalError = errorText(err);
    if (this.journalWritable) {
      this.journalWritable = false;
      this.log.error(
        { err: this.lastJournalError },
        `the journal ${this.journal.path} cannot be written either; refusing new calls until the database or the journal takes writes`,
      );
    }
    this.scheduleRetry();
  }

  private journalRecovered(): void {
    if (!this.journalWritable) {
      this.journalWritable = true;
      this.log.info(`the journal ${this.journal.path} takes writes again`);
    }
  }

  private keepUnsaved(entry: JournalEntry): void {
    if (this.unsaved.length >= this.maxUnsaved) {
      this.log.error({ journalEntry: this.unsaved.shift() }, 'too many calls held in memory; logging the oldest instead');
    }
    this.unsaved.push(entry);
  }

  private async guard<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): Error {
    this.log.error({ err: errorText(err) }, 'database operation failed');
    return new StoreUnavailableError('the database cannot be used right now; try again later', err);
  }
}
