/**
 * Values read from the database, kept for less than a second so the hot path
 * needs no round trip for them, yet a change made on any instance (a revoked
 * key, a new budget) is seen everywhere within `maxAgeMs`. After `refreshMs`
 * a value is still served while it is re-read in the background; past
 * `maxAgeMs` the caller waits for the read. At most `maxEntries` are kept.
 *
 * When the read fails (the database is down), the last value read is served,
 * however old: nothing can be changed through the admin API while the
 * database is down either, and calls keep going to the journal meanwhile.
 * Only a value never read before makes the caller see the failure.
 */
export class FreshCache<K, V> {
  private readonly entries = new Map<K, { value: V; readAt: number }>();
  private readonly reading = new Map<K, Promise<V>>();

  constructor(private readonly opts: { refreshMs: number; maxAgeMs: number; maxEntries: number; now?: () => number }) {}

  async get(key: K, read: () => Promise<V>): Promise<V> {
    const now = (this.opts.now ?? Date.now)();
    const entry = this.entries.get(key);
    if (entry && now - entry.readAt < this.opts.maxAgeMs) {
      if (now - entry.readAt >= this.opts.refreshMs) this.reread(key, read).catch(() => undefined);
      return entry.value;
    }
    try {
      return await this.reread(key, read);
    } catch (err) {
      if (entry) return entry.value;
      throw err;
    }
  }

  /** Makes every value due: the next get reads afresh (after a change made through this instance). */
  clear(): void {
    for (const entry of this.entries.values()) entry.readAt = Number.NEGATIVE_INFINITY;
  }

  private reread(key: K, read: () => Promise<V>): Promise<V> {
    let pending = this.reading.get(key);
    if (!pending) {
      const startedAt = (this.opts.now ?? Date.now)();
      pending = read().then(
        (value) => {
          this.reading.delete(key);
          this.entries.delete(key);
          if (this.entries.size >= this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
          // Dated from when the read began: a value is never older than it claims.
          this.entries.set(key, { value, readAt: startedAt });
          return value;
        },
        (err) => {
          this.reading.delete(key);
          throw err;
        },
      );
      this.reading.set(key, pending);
    }
    return pending;
  }
}
