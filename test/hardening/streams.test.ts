import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';
import type { ServerResponse } from 'node:http';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function rows(): Promise<Record<string, any>[]> {
  return (await (await fetch(`${h.url}/queries?status=all`)).json()) as Record<string, any>[];
}

const MODEL = 'served-model';
const chunk = (content: string, usage?: Record<string, number> | null, choices = true) =>
  JSON.stringify({
    id: 'cmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: MODEL,
    choices: choices ? [{ index: 0, delta: { content }, finish_reason: null }] : [],
    ...(usage !== undefined ? { usage } : {}),
  });

/** A promise and the function that settles it, for stand-ins that wait for the test. */
function signal(): { wait: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const wait = new Promise<void>((r) => (fire = r));
  return { wait, fire };
}

/** Writes `first`, waits until the test says so, then writes `rest` and ends. */
function twoPartStream(first: string[], rest: string[], go: Promise<void>) {
  return (_req: unknown, _body: Buffer, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of first) res.write(e);
    void go.then(() => {
      for (const e of rest) res.write(e);
      res.end();
    });
  };
}

/** Calls with a stream and fires `seen` once the caller has received `text`. */
function streamCall(text: string, seen: () => void, extra: Record<string, unknown> = {}) {
  let received = '';
  return rawCall(`${h.url}/v1/chat/completions`, {
    headers: jsonHeaders('streamer'),
    body: chatBody({ stream: true, ...extra }),
    onData: (c) => {
      received += c.toString();
      if (received.includes(text)) seen();
    },
  });
}

describe('usage on every chunk (vLLM continuous_usage_stats and others)', () => {
  it('keeps streaming, records the last usage reported, and holds back only the end', async () => {
    h = await startHarness();
    const go = signal();
    const events = Array.from({ length: 20 }, (_, i) => `data: ${chunk(`w${i} `, { prompt_tokens: 12, completion_tokens: i + 1, total_tokens: 13 + i })}\n\n`);
    h.upstream.behaviour = { kind: 'custom', handle: twoPartStream(events.slice(0, 10), [...events.slice(10), 'data: [DONE]\n\n'], go.wait) };
    // The upstream sends the rest only once the caller has seen the ninth event: a proxy holding the stream back never gets it.
    const answer = await streamCall('w8 ', go.fire, { stream_options: { include_usage: true } });
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(true);
    expect(answer.text().match(/^data: \{/gm)).toHaveLength(20);
    const [row] = await rows();
    expect(row).toMatchObject({ queryTokens: 12, answerTokens: 20, estimated: false, model: MODEL });
  });
});

describe('streams with CR-only line ends (the SSE specification allows \\r, \\n and \\r\\n)', () => {
  it('relays events as they come and reads the usage they report', async () => {
    h = await startHarness();
    const go = signal();
    const first = ['Hello', ' from', ' CR'].map((w) => `data: ${chunk(w, null)}\r\r`);
    const rest = [`data: ${chunk('', { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, false)}\r\r`, 'data: [DONE]\r\r'];
    h.upstream.behaviour = { kind: 'custom', handle: twoPartStream(first, rest, go.wait) };
    const answer = await streamCall(' CR', go.fire);
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(true);
    expect(answer.text()).toContain('data: [DONE]\r\r');
    // The caller did not ask for usage, and the proxy asked for it: its usage-only chunk is not shown.
    expect(answer.text()).not.toContain('prompt_tokens');
    const [row] = await rows();
    expect(row).toMatchObject({ queryTokens: 7, answerTokens: 3, estimated: false });
  });

  it('counts a CR-only stream without usage from its text', async () => {
    h = await startHarness();
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`${['Hello', ' there', ' friend'].map((w) => `data: ${chunk(w)}\r\r`).join('')}data: [DONE]\r\r`);
      },
    };
    const answer = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('streamer'), body: chatBody({ stream: true }) });
    expect(answer.complete).toBe(true);
    const [row] = await rows();
    expect(row).toMatchObject({ estimated: true, answerTokens: 3, model: MODEL });
  });
});

describe('upstreams that stream usage without being asked (forward.streams-usage-unasked)', () => {
  const unasked = (_req: unknown, body: Buffer, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${chunk('Hi')}\n\ndata: ${chunk('', { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 }, false)}\n\ndata: [DONE]\n\n`);
    void body;
  };

  it('passes the upstream usage chunk on to a caller who did not ask, and sends the request as the caller wrote it', async () => {
    h = await startHarness(['--forward.streams-usage-unasked=true']);
    h.upstream.behaviour = { kind: 'custom', handle: unasked };
    const body = chatBody({ stream: true });
    const answer = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('streamer'), body });
    expect(answer.text()).toContain('"prompt_tokens":4');
    expect(h.upstream.last.body.toString()).toBe(body);
    const [row] = await rows();
    expect(row).toMatchObject({ queryTokens: 4, answerTokens: 1, estimated: false });
  });

  it('by default asks for usage and hides the chunk its asking produced', async () => {
    h = await startHarness();
    h.upstream.behaviour = { kind: 'custom', handle: unasked };
    const answer = await rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('streamer'), body: chatBody({ stream: true }) });
    expect(answer.text()).not.toContain('"prompt_tokens"');
    expect(JSON.parse(h.upstream.last.body.toString()).stream_options).toEqual({ include_usage: true });
  });
});
