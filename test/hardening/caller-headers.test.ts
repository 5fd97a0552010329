import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_TOKEN, startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, rawCall } from '../support/raw-call.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const steering = { 'content-type': 'application/json', 'x-user': 'adam', 'openai-organization': 'org-someone-else', 'openai-project': 'proj-someone-else' };
const call = () => rawCall(`${h.url}/v1/chat/completions`, { headers: steering, body: chatBody() });

describe('which organisation and project a call bills', () => {
  it("drops the callers' OpenAI-Organization and OpenAI-Project by default", async () => {
    h = await startHarness();
    expect((await call()).status).toBe(200);
    expect(h.upstream.last.headers['openai-organization']).toBeUndefined();
    expect(h.upstream.last.headers['openai-project']).toBeUndefined();
  });

  it('sends forward.organization and forward.project instead of what callers send', async () => {
    h = await startHarness(['--forward.organization=org-proxy', '--forward.project=proj-proxy']);
    expect((await call()).status).toBe(200);
    expect(h.upstream.last.headers['openai-organization']).toBe('org-proxy');
    expect(h.upstream.last.headers['openai-project']).toBe('proj-proxy');
  });

  it("passes the callers' values when forward.caller-organization allows it", async () => {
    h = await startHarness(['--forward.organization=org-proxy', '--forward.caller-organization=true']);
    expect((await call()).status).toBe(200);
    expect(h.upstream.last.headers['openai-organization']).toBe('org-someone-else');
    expect(h.upstream.last.headers['openai-project']).toBe('proj-someone-else');
    const plain = await rawCall(`${h.url}/v1/chat/completions`, { headers: { 'content-type': 'application/json', 'x-user': 'adam' }, body: chatBody() });
    expect(plain.status).toBe(200);
    expect(h.upstream.last.headers['openai-organization']).toBe('org-proxy');
  });
});

describe('methods that never go upstream', () => {
  it('refuses TRACE with 405 in the OpenAI shape, forwarding nothing', async () => {
    h = await startHarness();
    const answer = await rawCall(`${h.url}/v1/models`, { method: 'TRACE', headers: { 'x-user': 'adam' } });
    expect(answer.status).toBe(405);
    expect(answer.json().error).toMatchObject({ code: 'method_not_allowed', message: expect.stringMatching(/TRACE/) });
    expect(h.upstream.received).toEqual([]);
  });

  it('refuses CONNECT with 405 JSON, forwarding nothing', async () => {
    h = await startHarness();
    const { port } = new URL(h.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('CONNECT api.openai.com:443 HTTP/1.1\r\nhost: api.openai.com:443\r\nx-user: adam\r\n\r\n'),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 405/);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error).toMatchObject({
      code: 'method_not_allowed',
      message: expect.stringMatching(/CONNECT/),
    });
    expect(reply).not.toContain(FORWARD_TOKEN);
    expect(h.upstream.received).toEqual([]);
  });
});
