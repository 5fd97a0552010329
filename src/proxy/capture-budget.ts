/**
 * The bytes of answers kept for estimation, across all calls in flight. Each
 * call takes from it as it keeps a chunk and gives everything back when it is
 * done; once it is spent, calls keep nothing more and their estimate is
 * extrapolated from what they kept (or made from the answer's size).
 */
export class CaptureBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
