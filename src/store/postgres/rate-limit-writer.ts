import type { RateLimitSnapshot, RateLimitWindow } from '../types.js';

export interface RateLimitRow extends RateLimitWindow {
  /** The answered model: its own limits are kept per model as well. */
  model: string;
  kind: 'requests' | 'tokens';
  observedAt: number;
}

/**
 * Keeps rate-limit writes off the hot path. Every successful answer carries
 * the headers, and all instances write the same two rows, so writing each one
 * inside the call's transaction would make every call wait for the previous
 * call's commit. Instead the newest snapshot per kind waits here and one
 * upsert at a time writes it; the upsert itself only ever moves a row forward
 * in time, so instances racing each other still end on the newest answer.
 * The same holds per model (the headers of one model's answers are its own
 * limits): the newest snapshot per model and kind waits here.
 */
export class RateLimitWriter {
  private readonly pending = new Map<string, RateLimitRow>();
  private writing: Promise<void> | undefined;

  constructor(
    private readonly write: (rows: RateLimitRow[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  offer(snapshot: RateLimitSnapshot, model: string): void {
    for (const kind of ['requests', 'tokens'] as const) {
      const window = snapshot[kind];
      if (!window) continue;
      const key = `${model}\u0000${kind}`;
      const waiting = this.pending.get(key);
      if (!waiting || waiting.observedAt <= snapshot.observedAt) {
        this.pending.set(key, { model, kind, maximum: window.maximum, remaining: window.remaining, reset: window.reset, observedAt: snapshot.observedAt });
      }
    }
    if (this.pending.size > 0) this.writing ??= this.drain();
  }

  /** Resolves once everything offered so far is in the database (or failed and was reported). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const rows = [...this.pending.values()];
        this.pending.clear();
        try {
          await this.write(rows);
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
