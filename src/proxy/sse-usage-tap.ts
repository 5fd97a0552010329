import { type ToolCalls, type Usage, usageAndModelOf } from './usage.js';
import { AnswerCapture } from './answer-capture.js';

const USAGE_KEY = Buffer.from('"usage"');
const DONE = Buffer.from('[DONE]');
const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Watches a server-sent-event stream as it is relayed, without buffering it.
 *
 * Hot path: most chunks are whole events with no usage object and no [DONE],
 * and are returned as they came, untouched. Only an event that carries a
 * `usage` object is parsed. That event, `[DONE]`, and everything after the
 * first of them are held back, so the caller can commit the query before the
 * end of the answer is released. The usage-only chunk the proxy itself asked
 * for (`choices: []`) is dropped when `hideUsageOnlyChunk` is set.
 */
export class SseUsageTap {
  usage?: Usage;
  model?: string;
  serviceTier?: string;
  tools?: ToolCalls;
  readonly held: Buffer[] = [];
  readonly capture: AnswerCapture;
  private pending: Buffer | null = null;
  private holding = false;

  constructor(
    private readonly hideUsageOnlyChunk: boolean,
    captureLimitBytes: number,
  ) {
    this.capture = new AnswerCapture(captureLimitBytes);
  }

  /** The parts of `chunk` to forward now, in order. */
  push(chunk: Buffer): Buffer[] {
    this.capture.add(chunk);
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    if (!this.holding && endsAtEventBoundary(buf) && !hasUsageObject(buf, 0, buf.length) && buf.indexOf(DONE) === -1) {
      return [buf];
    }
    const out: Buffer[] = [];
    let start = 0;
    let forwardFrom = 0;
    for (;;) {
      const boundary = nextBoundary(buf, start);
      if (!boundary) break;
      const end = boundary.index + boundary.length;
      if (this.holding) {
        this.held.push(buf.subarray(start, end));
      } else {
        const kind = this.classify(buf, start, boundary.index);
        if (kind === 'drop' || kind === 'hold') {
          if (start > forwardFrom) out.push(buf.subarray(forwardFrom, start));
          forwardFrom = end;
          if (kind === 'hold') {
            this.holding = true;
            this.held.push(buf.subarray(start, end));
          }
        }
      }
      start = end;
    }
    if (!this.holding && start > forwardFrom) out.push(buf.subarray(forwardFrom, start));
    if (start < buf.length) this.pending = buf.subarray(start);
    return out;
  }

  /** At the end of the stream: an unterminated last event is released with the held ones. */
  finish(): void {
    if (this.pending) {
      const kind = this.holding ? 'hold' : this.classify(this.pending, 0, this.pending.length);
      if (kind !== 'drop') this.held.push(this.pending);
      this.pending = null;
    }
  }

  private classify(buf: Buffer, start: number, end: number): 'pass' | 'hold' | 'drop' {
    if (hasUsageObject(buf, start, end)) {
      const event = parseEventData(buf.toString('utf8', start, end));
      const { usage, model, serviceTier, tools } = usageAndModelOf(event);
      if (usage) {
        this.usage = usage;
        if (model) this.model = model;
        if (serviceTier) this.serviceTier = serviceTier;
        if (tools) this.tools = tools;
        const choices = (event as { choices?: unknown }).choices;
        if (this.hideUsageOnlyChunk && Array.isArray(choices) && choices.length === 0) return 'drop';
        return 'hold';
      }
    }
    return isDoneEvent(buf, start, end) ? 'hold' : 'pass';
  }
}

/** `data: [DONE]` and nothing else; "[DONE]" inside generated text must not hold the stream back. */
function isDoneEvent(buf: Buffer, start: number, end: number): boolean {
  if (end - start > 32) return false;
  const text = buf.toString('latin1', start, end).trim();
  return text === 'data: [DONE]' || text === 'data:[DONE]';
}

function endsAtEventBoundary(buf: Buffer): boolean {
  const n = buf.length;
  return n >= 2 && buf[n - 1] === 0x0a && (buf[n - 2] === 0x0a || (n >= 4 && buf[n - 2] === 0x0d && buf[n - 3] === 0x0a));
}

function nextBoundary(buf: Buffer, from: number): { index: number; length: number } | undefined {
  const lf = buf.indexOf(LF2, from);
  const crlf = buf.indexOf(CRLF2, from);
  if (lf === -1 && crlf === -1) return undefined;
  if (crlf === -1 || (lf !== -1 && lf < crlf)) return { index: lf, length: 2 };
  return { index: crlf, length: 4 };
}

/** True when `"usage"` appears as a key with an object value (not `"usage":null`) in [start, end). */
function hasUsageObject(buf: Buffer, start: number, end: number): boolean {
  let at = buf.indexOf(USAGE_KEY, start);
  while (at !== -1 && at < end) {
    // A key inside a JSON string would be escaped (\"usage\").
    if (at === 0 || buf[at - 1] !== 0x5c) {
      let i = at + USAGE_KEY.length;
      while (i < end && isSpace(buf[i])) i++;
      if (buf[i] === 0x3a) {
        i++;
        while (i < end && isSpace(buf[i])) i++;
        if (buf[i] === 0x7b) return true;
      }
    }
    at = buf.indexOf(USAGE_KEY, at + 1);
  }
  return false;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** The JSON in an event's data lines, or undefined. */
export function parseEventData(event: string): unknown {
  const lines = event.split(/\r?\n/);
  const data: string[] = [];
  for (const line of lines) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
  }
  if (data.length === 0) return undefined;
  try {
    return JSON.parse(data.join('\n'));
  } catch {
    return undefined;
  }
}
