import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FaultyStore } from '../support/faulty-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';
import { DONE_EVENT, chunkEvent, completionJson, usageEvent } from '../support/sse-events.js';

let h: Harness;
let store: FaultyStore;
beforeEach(async () => {
  h = await startHarness([], { wrapStore: (s) => (store = new FaultyStore(s)) });
});
afterEach(async () => {
  await h.close();
});

const usage = { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 };
const answerJson = completionJson('An answer in three parts', usage);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes the answer in parts with pauses, so the caller receives its first parts long before the last. */
function inParts(contentType: string, parts: string[]) {
  return (_req: unknown, _body: Buffer, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': contentType });
    void (async () => {
      for (const part of parts) {
        res.write(part);
        await pause(30);
      }
      res.end();
    })();
  };
}

async function holdAndCheck(body: string, expectedEnd: string, parts: string[], contentType: string) {
  h.upstream.behaviour = { kind: 'custom', handle: inParts(contentType, parts) };
  const held = store.holdCommits();
  const reachedStore = store.nextRecordAttempt();
  let received = '';
  const answer = rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('held'), body, onData: (c) => (received += c.toString()) });

  await reachedStore;
  await pause(150);
  // The store has the call but has not committed it: the end of the answer must still be held back.
  expect(received.length).toBeGreaterThan(0);
  expect(received).not.toContain(expectedEnd);
  expect(await (await fetch(`${h.url}/queries?status=all`)).json()).toEqual([]);

  held.release();
  const done = await answer;
  expect(done.complete).toBe(true);
  expect(done.text().endsWith(expectedEnd)).toBe(true);
  const rows = (await (await fetch(`${h.url}/queries`)).json()) as Record<string, unknown>[];
  expect(rows).toMatchObject([{ user: 'held', queryTokens: 9, answerTokens: 4 }]);
}

it("holds back a plain answer's last bytes until its row is committed", async () => {
  const thirds = [answerJson.slice(0, 40), answerJson.slice(40, 80), answerJson.slice(80)];
  await holdAndCheck(chatBody(), answerJson.slice(80), thirds, 'application/json');
});

it("holds back a stream's [DONE] until its row is committed", async () => {
  const events = [chunkEvent('An answer'), chunkEvent(' in parts', { finish: 'stop' }), usageEvent(usage), DONE_EVENT];
  await holdAndCheck(chatBody({ stream: true }), DONE_EVENT, events, 'text/event-stream');
});
