import { AnswerCapture } from './answer-capture.js';
import type { CaptureBudget } from './capture-budget.js';
import { type AnswerFacts, normaliseUsage, usageAndModelOf } from './usage.js';

/** Answers up to this size are parsed whole; larger ones (embeddings) are read from their ends. */
const PARSE_WHOLE_BELOW = 256 * 1024;
const EDGE_BYTES = 16 * 1024;

/**
 * Reads `usage` and `model` out of a JSON answer as it is relayed. Bytes are
 * referenced, not copied; the last chunk is held back by the relay until the
 * query is committed.
 */
export class JsonUsageTap {
  readonly capture: AnswerCapture;
  // Chunks, not text: most answers are parsed whole, and never need their edges decoded.
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;

  constructor(captureLimitBytes: number, budget?: CaptureBudget) {
    this.capture = new AnswerCapture(Math.max(captureLimitBytes, PARSE_WHOLE_BELOW), budget);
  }

  push(chunk: Buffer): void {
    this.capture.add(chunk);
    if (this.headBytes < EDGE_BYTES) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= EDGE_BYTES) this.tailBytes -= (this.tail.shift() as Buffer).length;
  }

  /** The answer's usage and model, once it has ended. */
  result(): AnswerFacts & { parsed?: unknown } {
    if (this.capture.complete && this.capture.totalBytes < PARSE_WHOLE_BELOW) {
      try {
        const parsed = JSON.parse(this.capture.text());
        return { ...usageAndModelOf(parsed), parsed };
      } catch {
        return {};
      }
    }
    const tail = Buffer.concat(this.tail).toString('utf8');
    const head = Buffer.concat(this.head).toString('utf8', 0, EDGE_BYTES);
    return {
      usage: normaliseUsage(lastObjectValue(tail, 'usage')),
      model: firstStringValue(head, 'model') ?? lastStringValue(tail, 'model'),
      // Chat puts service_tier after usage, Responses near the top; tool calls in between are not counted in answers this large.
      serviceTier: lastStringValue(tail, 'service_tier') ?? firstStringValue(head, 'service_tier'),
    };
  }
}

function lastObjectValue(text: string, key: string): unknown {
  const needle = `"${key}"`;
  for (let at = text.lastIndexOf(needle); at > 0; at = text.lastIndexOf(needle, at - 1)) {
    if (text[at - 1] === '\\') continue;
    const open = /^\s*:\s*\{/.exec(text.slice(at + needle.length, at + needle.length + 64));
    if (!open) continue;
    const start = at + needle.length + open[0].length - 1;
    const end = matchingBrace(text, start);
    if (end === -1) continue;
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {}
  }
  return undefined;
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

const stringValue = (key: string) => new RegExp(`(?<!\\\\)"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`, 'g');

function firstStringValue(text: string, key: string): string | undefined {
  const m = stringValue(key).exec(text);
  return m ? jsonString(m[1]) : undefined;
}

function lastStringValue(text: string, key: string): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(stringValue(key))) last = m[1];
  return last === undefined ? undefined : jsonString(last);
}

/** The string a JSON string literal's inside spells; undefined for a broken escape (`\q`, `\u12`) in a malformed answer. */
function jsonString(inside: string): string | undefined {
  try {
    return JSON.parse(`"${inside}"`) as string;
  } catch {
    return undefined;
  }
}
