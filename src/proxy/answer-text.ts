import type { LooseJson } from '../common/loose-json.js';
import { eventLines } from './sse-event-splitter.js';
import { parseEventData } from './sse-usage-tap.js';

/** The generated text of a streamed answer, as far as it was captured, for counting its tokens. */
export function streamedAnswerText(sse: string): string[] {
  const out: string[] = [];
  // Line by line: each data line of a stream event holds one JSON object, whatever the lines end with.
  for (const line of eventLines(sse)) {
    const obj = parseEventData(line) as LooseJson | undefined;
    if (!obj || typeof obj !== 'object') continue;
    if (Array.isArray(obj.choices)) {
      for (const choice of obj.choices) {
        collectChoice(choice?.delta, out);
        if (typeof choice?.text === 'string') out.push(choice.text);
      }
    }
    // Responses API: response.output_text.delta, response.function_call_arguments.delta, ...
    if (typeof obj.type === 'string' && obj.type.endsWith('.delta') && typeof obj.delta === 'string') out.push(obj.delta);
  }
  return out;
}

/** The generated text of a whole JSON answer. */
export function jsonAnswerText(body: unknown): string[] {
  const out: string[] = [];
  const b = body as LooseJson | undefined;
  if (!b || typeof b !== 'object') return out;
  if (Array.isArray(b.choices)) {
    for (const choice of b.choices) {
      collectChoice(choice?.message, out);
      if (typeof choice?.text === 'string') out.push(choice.text);
    }
  }
  if (typeof b.output_text === 'string') out.push(b.output_text);
  else if (Array.isArray(b.output)) collectStrings(b.output, out);
  return out;
}

function collectChoice(part: LooseJson, out: string[]): void {
  if (!part || typeof part !== 'object') return;
  for (const key of ['content', 'refusal', 'reasoning_content']) if (typeof part[key] === 'string') out.push(part[key]);
  if (Array.isArray(part.tool_calls)) {
    for (const call of part.tool_calls) {
      if (typeof call?.function?.name === 'string') out.push(call.function.name);
      if (typeof call?.function?.arguments === 'string') out.push(call.function.arguments);
    }
  }
  if (part.function_call && typeof part.function_call.arguments === 'string') out.push(part.function_call.arguments);
}

function collectStrings(value: unknown, out: string[]): void {
  // A loop, not recursion: deeply nested output must not overflow the stack.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    else if (v && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, inner] = entries[i];
        if (k === 'text' || k === 'arguments') {
          if (typeof inner === 'string') out.push(inner);
        } else stack.push(inner);
      }
    }
  }
}
