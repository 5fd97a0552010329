/**
 * Keeps the first bytes of an answer (up to a cap) for the rare case that the
 * upstream gives no usage and the answer must be counted. References the
 * relayed chunks, copies nothing.
 */
export class AnswerCapture {
  readonly chunks: Buffer[] = [];
  capturedBytes = 0;
  totalBytes = 0;

  constructor(private readonly limitBytes: number) {}

  add(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    if (this.capturedBytes < this.limitBytes) {
      this.chunks.push(chunk);
      this.capturedBytes += chunk.length;
    }
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
}
