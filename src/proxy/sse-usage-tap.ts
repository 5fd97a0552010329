import type { AnswerCapture } from './answer-capture.js';
import { eventLines, SseEventSplitter } from './sse-event-splitter.js';
import { type ToolCalls, type Usage, usageAndModelOf } from './usage.js';

const USAGE_KEY = Buffer.from('"usage"');
const DONE = Buffer.from('[DONE]');
/** An event larger than this is relayed as it comes, unread (no stream event of OpenAI's comes near it). */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

type Kind = 'pass' | 'usage' | 'drop' | 'done';

/**
 * Watches a server-sent-event stream as it is relayed, without buffering it.
 *
 * Hot path: most chunks are whole events with no usage object and no [DONE],
 * and are returned as they came, untouched. Only an event that carries a
 * `usage` object is parsed, and the last usage reported wins (some upstreams
 * report it on every chunk). The latest usage event and `[DONE]` are held back
 * until a later event shows they were not the end, so the caller can commit
 * the query before the end of the answer is released; what is held is at most
 * those two events. The usage-only chunk the proxy itself asked for
 * (`choices: []`) is dropped when `hideUsageOnlyChunk` is set.
 */
export class SseUsageTap {
  usage?: Usage;
  model?: string;
  serviceTier?: string;
  tools?: ToolCalls;
  /** The model named by the first event, for streams that never report usage. */
  firstModel?: string;
  held: Buffer[] = [];
  private readonly splitter = new SseEventSplitter(MAX_EVENT_BYTES);
  private heldDone = false;
  private firstChunk = true;

  constructor(
    private readonly hideUsageOnlyChunk: boolean,
    readonly capture: AnswerCapture,
  ) {}

  /** The parts of `chunk` to forward now, in order. */
  push(chunk: Buffer): Buffer[] {
    this.capture.add(chunk);
    if (this.firstChunk) {
      this.firstChunk = false;
      this.firstModel = modelOfFirstEvent(chunk);
    }
    if (this.held.length === 0 && this.splitter.idle && endsAtEventBoundary(chunk) && !hasUsageObject(chunk, 0, chunk.length) && chunk.indexOf(DONE) === -1) {
      return [chunk];
    }
    const out: Buffer[] = [];
    for (const part of this.splitter.push(chunk)) {
      if (!part.whole) {
        this.release(out);
        out.push(part.bytes);
        continue;
      }
      this.take(part.bytes, out);
    }
    return out;
  }

  /** At the end of the stream: an unterminated last event is held with the rest. */
  finish(): void {
    const last = this.splitter.finish();
    if (!last) return;
    if (last.whole && this.classify(last.bytes) === 'drop') return;
    this.held.push(last.bytes);
  }

  private take(event: Buffer, out: Buffer[]): void {
    const kind = this.classify(event);
    if (kind === 'pass') {
      this.release(out);
      out.push(event);
    } else if (kind === 'drop') {
      // The usage-only chunk the proxy asked for: what was held before it was not the end.
      this.release(out);
    } else if (kind === 'usage') {
      this.release(out);
      this.held.push(event);
    } else {
      if (this.heldDone) this.release(out);
      this.held.push(event);
      this.heldDone = true;
    }
  }

  /** A later event came: what was held was not the end of the answer. */
  private release(out: Buffer[]): void {
    if (this.held.length === 0) return;
    for (const b of this.held) out.push(b);
    this.held = [];
    this.heldDone = false;
  }

  private classify(event: Buffer): Kind {
    if (hasUsageObject(event, 0, event.length)) {
      const parsed = parseEventData(event.toString('utf8'));
      const { usage, model, serviceTier, tools } = usageAndModelOf(parsed);
      if (usage) {
        this.usage = usage;
        if (model) this.model = model;
        if (serviceTier) this.serviceTier = serviceTier;
        if (tools) this.tools = tools;
        const choices = (parsed as { choices?: unknown }).choices;
        return this.hideUsageOnlyChunk && Array.isArray(choices) && choices.length === 0 ? 'drop' : 'usage';
      }
    }
    return isDoneEvent(event) ? 'done' : 'pass';
  }
}

/** The model the stream's first event names (when the first chunk holds it whole), for streams that never report usage. */
function modelOfFirstEvent(chunk: Buffer): string | undefined {
  const head = chunk.toString('utf8', 0, Math.min(chunk.length, 8192));
  return usageAndModelOf(parseEventData(head.split(/\r\n\r\n|\n\n|\r\r/)[0])).model;
}

/** `data: [DONE]` and nothing else; "[DONE]" inside generated text must not hold the stream back. */
function isDoneEvent(event: Buffer): boolean {
  if (event.length > 32) return false;
  const text = event.toString('latin1').trim();
  return text === 'data: [DONE]' || text === 'data:[DONE]';
}

/** Ends with `\n\n` or `\r\n\r\n` (or `\n\r\n`): whatever is inside, the next chunk starts a new event. */
function endsAtEventBoundary(buf: Buffer): boolean {
  const n = buf.length;
  return n >= 2 && buf[n - 1] === 0x0a && (buf[n - 2] === 0x0a || (n >= 3 && buf[n - 2] === 0x0d && buf[n - 3] === 0x0a));
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
  const data: string[] = [];
  for (const line of eventLines(event)) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
  }
  if (data.length === 0) return undefined;
  try {
    return JSON.parse(data.join('\n'));
  } catch {
    return undefined;
  }
}
