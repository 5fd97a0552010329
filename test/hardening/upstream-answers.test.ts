import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_TOKEN, startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function rows(): Promise<Record<string, any>[]> {
  return (await (await fetch(`${h.url}/queries?status=all`)).json()) as Record<string, any>[];
}

const call = () => rawCall(`${h.url}/v1/chat/completions`, { headers: jsonHeaders('adam'), body: chatBody() });

describe('a large JSON answer that is not valid JSON', () => {
  it.each([
    ['a broken escape in its model', `{"model":"gpt-4o\\q","choices":[{"message":{"content":"${'x'.repeat(300_000)}"}}]`],
    ['a broken escape at its end', `{"model":"gpt-4o","choices":[{"message":{"content":"${'x'.repeat(300_000)}"}}],"model":"\\u12"`],
    ['no closing brace', `{"model":"gpt-4o","choices":[{"message":{"content":"${'x'.repeat(300_000)}`],
  ])('with %s is relayed to its end and recorded, estimated', async (_what, body) => {
    h = await startHarness(['--forward.idle-timeout=2s']);
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      },
    };
    const answer = await call();
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(true);
    expect(answer.body.length).toBe(Buffer.byteLength(body));
    const [row] = await rows();
    expect(row).toMatchObject({ status: 200, estimated: true, user: 'adam' });
    expect(row.queryTokens).toBeGreaterThan(0);
  });
});

/** An upstream that reads the whole request and then answers with these raw bytes (or closes, for ''). */
function rawUpstream(bytes: string) {
  return (_req: unknown, _body: Buffer, res: ServerResponse) => {
    const socket = res.socket!;
    // Bypass Node's HTTP writer: these answers are malformed on purpose.
    if (bytes) socket.write(bytes);
    socket.destroy();
  };
}

describe('an upstream that got the whole request but answered badly: 502 to the caller, and the call recorded', () => {
  it.each([
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}', 'upstream_bad_answer'],
    [
      'a control character in a header',
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-bad: a\x01b\r\ncontent-length: 2\r\n\r\n{}',
      'upstream_bad_answer',
    ],
    [
      'headers over the limit',
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-big: ${'a'.repeat(70_000)}\r\ncontent-length: 2\r\n\r\n{}`,
      'upstream_bad_answer',
    ],
    ['the connection closed without an answer', '', 'upstream_closed'],
  ])('%s', async (_what, bytes, outcome) => {
    h = await startHarness();
    h.upstream.behaviour = { kind: 'custom', handle: rawUpstream(bytes) };
    const answer = await call();
    expect(answer.status).toBe(502);
    expect(answer.json().error).toMatchObject({ code: outcome, type: expect.any(String) });
    expect(answer.text()).not.toContain(FORWARD_TOKEN);
    const [row] = await rows();
    expect(row).toMatchObject({ status: 502, outcome, estimated: true, user: 'adam', model: 'gpt-4o' });
    expect(row.queryTokens).toBeGreaterThan(0);
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
  });
});
