const LF = 0x0a;
const CR = 0x0d;
const LF2 = Buffer.from('\n\n');

/** A part of the stream, in order: a whole event (with its blank line), or a piece of one too large to hold. */
export interface SsePart {
  bytes: Buffer;
  /** False for the pieces of an event larger than the splitter holds: forwarded as they come, never read. */
  whole: boolean;
}

/**
 * Cuts a server-sent-event stream into events as its chunks arrive. Lines
 * end with `\r\n`, `\n` or `\r` (as the SSE specification allows); an event
 * ends at a blank line. Every byte is looked at once and copied at most once,
 * so the work is linear in the stream however its lines end, and an event is
 * held only up to `maxEventBytes`.
 */
export class SseEventSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The last byte seen ended a line. */
  private atLineStart = true;
  /** The last byte seen was a CR: a LF right after it belongs to the same line end. */
  private afterCr = false;
  /** Inside an event already found too large: its remaining bytes pass as they come. */
  private oversized = false;

  constructor(private readonly maxEventBytes: number) {}

  /** True between events: nothing partial is waiting and the last bytes seen ended one. */
  get idle(): boolean {
    return this.pendingBytes === 0 && !this.oversized && this.atLineStart && !this.afterCr;
  }

  push(chunk: Buffer): SsePart[] {
    const parts: SsePart[] = [];
    const hasCr = chunk.indexOf(CR) !== -1;
    let start = 0;
    for (;;) {
      const end = hasCr ? this.scanBytes(chunk, start) : this.scanLf(chunk, start);
      if (end === -1) break;
      this.emit(parts, chunk.subarray(start, end));
      start = end;
    }
    if (start < chunk.length) {
      const tail = start === 0 ? chunk : chunk.subarray(start);
      if (this.oversized) parts.push({ bytes: tail, whole: false });
      else {
        this.pending.push(tail);
        this.pendingBytes += tail.length;
        if (this.pendingBytes > this.maxEventBytes) {
          parts.push({ bytes: this.takePending(), whole: false });
          this.oversized = true;
        }
      }
    }
    return parts;
  }

  /** At the end of the stream: the unterminated last event, if any. */
  finish(): SsePart | undefined {
    if (this.pendingBytes === 0) return undefined;
    return { bytes: this.takePending(), whole: !this.oversized };
  }

  /** `piece` ends an event. */
  private emit(parts: SsePart[], piece: Buffer): void {
    if (this.oversized) {
      parts.push({ bytes: piece, whole: false });
      this.oversized = false;
      return;
    }
    if (this.pendingBytes === 0) {
      parts.push({ bytes: piece, whole: true });
      return;
    }
    this.pending.push(piece);
    parts.push({ bytes: this.takePending(), whole: true });
  }

  private takePending(): Buffer {
    const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return bytes;
  }

  /** The end of the next event in a chunk without CR (the common case: native search for the blank line). */
  private scanLf(buf: Buffer, from: number): number {
    if (from >= buf.length) return -1;
    if (this.afterCr) {
      this.afterCr = false;
      if (buf[from] === LF) {
        from++;
        if (from >= buf.length) return -1;
      }
    }
    if (this.atLineStart && buf[from] === LF) return from + 1;
    const at = buf.indexOf(LF2, from);
    if (at === -1) {
      this.atLineStart = buf[buf.length - 1] === LF;
      return -1;
    }
    this.atLineStart = true;
    return at + 2;
  }

  /** The end of the next event, byte by byte, for chunks with CR line ends. */
  private scanBytes(buf: Buffer, from: number): number {
    for (let i = from; i < buf.length; i++) {
      const b = buf[i];
      if (b === LF) {
        if (this.afterCr) {
          this.afterCr = false;
          continue;
        }
        if (this.atLineStart) return i + 1;
        this.atLineStart = true;
      } else if (b === CR) {
        if (this.atLineStart) {
          if (buf[i + 1] === LF) {
            this.afterCr = false;
            return i + 2;
          }
          this.afterCr = true;
          return i + 1;
        }
        this.atLineStart = true;
        this.afterCr = true;
      } else {
        this.atLineStart = false;
        this.afterCr = false;
      }
    }
    return -1;
  }
}

/** The event's lines, whatever they end with. */
export const eventLines = (event: string): string[] => event.split(/\r\n|\r|\n/);
