import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARD_TOKEN, startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, jsonHeaders, rawCall } from '../support/raw-call.js';
import { STAND_IN_USAGE } from '../support/upstream-stand-in.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function rows(): Promise<Record<string, any>[]> {
  return (await (await fetch(`${h.url}/queries?status=all`)).json()) as Record<string, any>[];
}

/** Raw bytes on a socket: request lines no HTTP client library sends. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

const bodyOf = (reply: string) => JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));

describe('a respelled path is the endpoint it spells: same usage request, same checks, same record', () => {
  it.each(['/v1/chat/%63ompletions', '/v1/chat/completions/', '/v1//chat/completions', '/v1/./chat/completions'])(
    'a stream through %s asks for usage, goes upstream as /v1/chat/completions and is recorded with its tokens',
    async (path) => {
      const before = (await rows()).length;
      const answer = await rawCall(`${h.url}${path}?trace=1`, { headers: jsonHeaders('respeller'), body: chatBody({ stream: true }) });
      expect(answer.status).toBe(200);
      expect(answer.text()).toContain('data: [DONE]');
      // The caller did not ask for usage: the chunk the proxy asked for is not shown.
      expect(answer.text()).not.toContain('"prompt_tokens"');
      expect(h.upstream.last.url).toBe('/v1/chat/completions?trace=1');
      expect(JSON.parse(h.upstream.last.body.toString()).stream_options).toEqual({ include_usage: true });
      const all = await rows();
      expect(all.length).toBe(before + 1);
      expect(all[0]).toMatchObject({
        endpoint: '/v1/chat/completions',
        queryTokens: STAND_IN_USAGE.prompt_tokens,
        answerTokens: STAND_IN_USAGE.completion_tokens,
        estimated: false,
      });
    },
  );

  it('checks the model on a respelled path as on the plain one', async () => {
    const forwarded = h.upstream.received.length;
    const answer = await rawCall(`${h.url}/v1//chat/%63ompletions/`, { headers: jsonHeaders('respeller'), body: '{"messages":[]}' });
    expect(answer.status).toBe(400);
    expect(answer.json().error).toMatchObject({ code: 'missing_model' });
    expect(h.upstream.received.length).toBe(forwarded);
  });
});

describe('nothing outside /v1/ receives the organisation key', () => {
  it.each(['/v1/../../other/x', '/v1/%2e%2e/admin', '/v1/files/..%2F..%2Fother', '/v1/..'])(
    'refuses %s with 400 in the OpenAI shape, forwarding nothing',
    async (path) => {
      const forwarded = h.upstream.received.length;
      const reply = await rawRequest(`GET ${path} HTTP/1.1\r\nhost: x\r\nx-user: attacker\r\nconnection: close\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect(bodyOf(reply).error).toMatchObject({ code: 'invalid_path', type: 'invalid_request_error', message: expect.stringMatching(/\/v1\//) });
      expect(h.upstream.received.length).toBe(forwarded);
    },
  );

  it('refuses an absolute-form target with 400 in the OpenAI shape, forwarding nothing', async () => {
    const forwarded = h.upstream.received.length;
    for (const user of ['attacker', undefined]) {
      const reply = await rawRequest(
        `GET https://host.example/v1/models HTTP/1.1\r\nhost: host.example\r\n${user ? `x-user: ${user}\r\n` : ''}connection: close\r\n\r\n`,
      );
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect(bodyOf(reply).error).toMatchObject({ code: 'invalid_target', message: expect.stringMatching(/absolute URL/) });
      expect(reply).not.toContain(FORWARD_TOKEN);
    }
    expect(h.upstream.received.length).toBe(forwarded);
  });

  it('records none of the refused calls', async () => {
    expect((await rows()).filter((r) => r.user === 'attacker')).toEqual([]);
  });
});
