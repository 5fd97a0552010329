import type { IncomingMessage, ServerResponse } from 'node:http';
import { rawCall } from './raw-call.js';
import { DONE_EVENT, chunkEvent, completionJson, usageEvent } from './sse-events.js';

/**
 * Calls that each carry their number, and an upstream that answers call n
 * with usage only call n has: so a test can tell, row by row, that every call
 * was recorded with its own tokens.
 */
export const usageOf = (n: number) => ({ prompt_tokens: 100 + n, completion_tokens: 7 + (n % 13), total_tokens: 107 + n + (n % 13) });
export const userOf = (n: number) => `caller-${n}`;
const WORDS = ['Counting', ' for', ' the', ' test', ' of', ' many', ' calls', '.'];
const ANSWER = WORDS.join('');

export interface UpstreamPace {
  /** Events of a streamed answer, and the pause between them. */
  streamEvents: number;
  eventGapMs: number;
  /** How long a plain answer takes. */
  plainDelayMs: number;
  /** When set, answers send their first part, then wait for it before finishing. */
  finishGate?: Promise<void>;
}

export class UpstreamCalls {
  active = 0;
  answered = 0;
}

export function numberedAnswers(pace: UpstreamPace, calls: UpstreamCalls) {
  return (_req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const request = JSON.parse(body.toString('utf8')) as { stream?: boolean; messages: { content: string }[] };
    const n = Number(/call (\d+)/.exec(request.messages[0].content)?.[1]);
    calls.active++;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      calls.active--;
    };
    res.on('close', finish);
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    void (async () => {
      if (request.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 0; i < pace.streamEvents && !res.destroyed; i++) {
          res.write(chunkEvent(WORDS[i % WORDS.length] ?? ''));
          if (i === 0 && pace.finishGate) await pace.finishGate;
          await wait(pace.eventGapMs);
        }
        res.write(chunkEvent('', { finish: 'stop' }));
        res.write(usageEvent(usageOf(n)));
        res.end(DONE_EVENT);
      } else {
        if (pace.finishGate) await pace.finishGate;
        await wait(pace.plainDelayMs);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completionJson(ANSWER, usageOf(n)));
      }
      calls.answered++;
    })();
  };
}

export interface CallResult {
  n: number;
  streamed: boolean;
  /** The caller received the whole answer and a clean end. */
  completed: boolean;
  status: number;
}

export async function numberedCall(proxyUrl: string, n: number, streamed: boolean, onFirstByte?: () => void): Promise<CallResult> {
  let first = true;
  const answer = await rawCall(`${proxyUrl}/v1/chat/completions`, {
    headers: { 'content-type': 'application/json', 'x-user': userOf(n) },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `call ${n}` }], ...(streamed ? { stream: true } : {}) }),
    onData: () => {
      if (first) onFirstByte?.();
      first = false;
    },
  });
  let completed = answer.complete && answer.status === 200;
  if (completed && streamed) completed = answer.text().endsWith(DONE_EVENT);
  if (completed && !streamed) {
    try {
      completed = answer.json().choices[0].message.content === ANSWER;
    } catch {
      completed = false;
    }
  }
  return { n, streamed, completed, status: answer.status };
}
