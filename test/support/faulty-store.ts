import type { RateLimitSnapshot } from '../../src/store/types.js';
import type {
  BatchJob,
  DueBatch,
  JournaledRecord,
  Page,
  QueryFilter,
  QueryRecord,
  QueryRow,
  RecordedQuery,
  Store,
  StoredRateLimits,
  UsageGroup,
  UsageGrouping,
  UsageSummary,
} from '../../src/store/types.js';
import type { ModelPrices, Price, PriceSource } from '../../src/accounting/price.js';

/**
 * A real store with faults switched on and off by the test: writes that fail
 * (as a full disk or a stopped server would), and commits held back until the
 * test lets them go. Used only by tests.
 */
export class FaultyStore implements Store {
  readonly kind: Store['kind'];
  readonly access: Store['access'];
  failWrites = false;
  failReads = false;
  /** recordQuery calls that reached the store, failed or not. */
  recordAttempts = 0;
  private gate?: { opened: Promise<void>; open: () => void };
  private readonly arrivals: (() => void)[] = [];

  constructor(private readonly inner: Store) {
    this.kind = inner.kind;
    this.access = inner.access;
  }

  /** Until release() is called, recordQuery waits before committing. */
  holdCommits(): { release: () => void } {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { opened, open };
    return {
      release: () => {
        this.gate = undefined;
        open();
      },
    };
  }

  /** Resolves when the next recordQuery call arrives. */
  nextRecordAttempt(): Promise<void> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  async recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    this.recordAttempts++;
    for (const arrived of this.arrivals.splice(0)) arrived();
    if (this.gate) await this.gate.opened;
    if (this.failWrites) throw new Error('SQLITE_FULL: database or disk is full (injected)');
    return this.inner.recordQuery(query, rateLimits);
  }

  async recordJournaled(entries: JournaledRecord[]): Promise<void> {
    if (this.gate) await this.gate.opened;
    if (this.failWrites) throw new Error('SQLITE_FULL: database or disk is full (injected)');
    return this.inner.recordJournaled(entries);
  }

  catchUp(): Promise<void> {
    return this.inner.catchUp();
  }

  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    if (this.failWrites) throw new Error('SQLITE_FULL: database or disk is full (injected)');
    return this.inner.putPrice(model, price, source);
  }

  replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    return this.inner.replaceCatalogPrices(prices);
  }

  getModel(name: string): Promise<ModelPrices | undefined> {
    return this.read(() => this.inner.getModel(name));
  }

  listModels(): Promise<ModelPrices[]> {
    return this.read(() => this.inner.listModels());
  }

  usage(filter: QueryFilter): Promise<UsageSummary> {
    return this.read(() => this.inner.usage(filter));
  }

  usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    return this.read(() => this.inner.usageGroups(filter, grouping));
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    if (this.failReads) throw new Error('SQLITE_IOERR: disk I/O error (injected)');
    yield* this.inner.queries(filter, page);
  }

  userExists(name: string): Promise<boolean> {
    return this.read(() => this.inner.userExists(name));
  }

  rateLimits(): Promise<StoredRateLimits> {
    return this.read(() => this.inner.rateLimits());
  }

  rememberBatch(job: BatchJob, firstPollAt: number): Promise<void> {
    return this.write(() => this.inner.rememberBatch(job, firstPollAt));
  }

  leaseDueBatch(now: number, leaseMs: number): Promise<DueBatch | undefined> {
    return this.write(() => this.inner.leaseDueBatch(now, leaseMs));
  }

  deferBatch(id: string, nextPollAt: number, attempts: number): Promise<void> {
    return this.write(() => this.inner.deferBatch(id, nextPollAt, attempts));
  }

  finishBatch(id: string, finalStatus: string, finishedAt: number): Promise<void> {
    return this.write(() => this.inner.finishBatch(id, finalStatus, finishedAt));
  }

  modelRateLimits(): Promise<Map<string, StoredRateLimits>> {
    return this.read(() => this.inner.modelRateLimits());
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async write<T>(run: () => Promise<T>): Promise<T> {
    if (this.failWrites) throw new Error('SQLITE_FULL: database or disk is full (injected)');
    return run();
  }

  private async read<T>(run: () => Promise<T>): Promise<T> {
    if (this.failReads) throw new Error('SQLITE_IOERR: disk I/O error (injected)');
    return run();
  }
}
