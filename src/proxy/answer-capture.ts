import type { CaptureBudget } from './capture-budget.js';

/**
 * Keeps the first bytes of an answer for the rare case that the upstream
 * gives no usage and the answer must be counted. References the relayed
 * chunks, copies nothing. It keeps at most `limitBytes` (about what the
 * estimate reads), and only while the budget shared by all calls lasts;
 * `release()` gives its bytes back.
 */
export class AnswerCapture {
  chunks: Buffer[] = [];
  capturedBytes = 0;
  totalBytes = 0;
  private full = false;

  constructor(
    private readonly limitBytes: number,
    private readonly budget?: CaptureBudget,
  ) {}

  add(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    if (this.full) return;
    if (this.capturedBytes >= this.limitBytes || (this.budget && !this.budget.take(chunk.length))) {
      this.full = true;
      return;
    }
    this.chunks.push(chunk);
    this.capturedBytes += chunk.length;
  }

  get complete(): boolean {
    return this.capturedBytes === this.totalBytes;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Scales a count made on the captured part up to the whole answer. */
  extrapolate(count: number): number {
    if (this.complete || this.capturedBytes === 0) return count;
    return Math.round((count * this.totalBytes) / this.capturedBytes);
  }

  /** The answer is counted (or needs no counting): its bytes go back to the budget. */
  release(): void {
    this.budget?.give(this.capturedBytes);
    this.chunks = [];
    this.capturedBytes = 0;
    this.full = true;
  }
}
