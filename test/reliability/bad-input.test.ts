import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { chatBody, rawCall } from '../support/raw-call.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness(['--server.body-limit=64kb']);
});
afterAll(async () => {
  await h.close();
});

const CHAT = '/v1/chat/completions';

async function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  const answer = await rawCall(`${h.url}${path}`, { method: opts.method ?? 'POST', headers: opts.headers, body: opts.body });
  let json: any;
  try {
    json = answer.json();
  } catch {
    json = undefined;
  }
  return { status: answer.status, json, text: answer.text() };
}

/** The OpenAI error shape on /v1/*, naming the problem. */
function expectOpenAiError(res: { status: number; json: any; text: string }, status: number, code: string, mentions: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.json?.error, res.text).toMatchObject({ code, message: expect.stringMatching(mentions), type: expect.any(String) });
}

/** The admin error shape, naming the problem. */
function expectAdminError(res: { status: number; json: any; text: string }, status: number, code: string, mentions: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.json, res.text).toMatchObject({ status, code, message: expect.stringMatching(mentions) });
}

/** Raw bytes on a socket, for requests a well-behaved client library refuses to send. */
function rawRequest(bytes: Buffer | string): Promise<string> {
  const { port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    // Written, not ended: a half-closed socket would count as a caller who went away.
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

const asUser = (user: string) => ({ 'content-type': 'application/json', 'x-user': user });

describe('bad input on /v1/*: a specific 4xx, nothing forwarded, nothing recorded', () => {
  const forwardedBefore = { n: 0 };
  beforeAll(() => {
    forwardedBefore.n = h.upstream.received.length;
  });

  it('rejects invalid JSON with 400 invalid_json', async () => {
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: '{"model": "gpt-4o", ' }), 400, 'invalid_json', /not valid JSON/);
  });

  it('rejects an empty JSON body with 400', async () => {
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: '' }), 400, 'invalid_json', /empty/);
  });

  it.each([['[1,2]'], ['"text"'], ['42'], ['null'], ['true']])('rejects the JSON %s, which is not an object, with 400', async (body) => {
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body }), 400, 'invalid_body', /must be a JSON object/);
  });

  it('rejects a body without model with 400 missing_model', async () => {
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: '{"messages":[]}' }), 400, 'missing_model', /'model'/);
  });

  it.each([['42'], ['""'], ['null'], ['["gpt-4o"]']])('rejects model %s with 400 invalid_model', async (model) => {
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: `{"model":${model}}` }), 400, 'invalid_model', /'model' must be a non-empty string/);
  });

  it('rejects stream_options that is not an object with 400', async () => {
    const res = await send(CHAT, { headers: asUser('a'), body: '{"model":"gpt-4o","stream":true,"stream_options":"yes"}' });
    expectOpenAiError(res, 400, 'invalid_stream_options', /stream_options/);
  });

  it('rejects a JSON endpoint called with another content type with 415', async () => {
    const res = await send(CHAT, { headers: { 'content-type': 'text/plain', 'x-user': 'a' }, body: chatBody() });
    expectOpenAiError(res, 415, 'unsupported_content_type', /content-type: application\/json/);
  });

  it('rejects a JSON endpoint called without a content type with 415', async () => {
    const res = await send(CHAT, { headers: { 'x-user': 'a' }, body: chatBody() });
    expectOpenAiError(res, 415, 'unsupported_content_type', /content-type/);
  });

  it('rejects a JSON body over server.body-limit with 413', async () => {
    const big = chatBody({ filler: 'x'.repeat(70 * 1024) });
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: big }), 413, 'body_too_large', /server\.body-limit/);
  });

  it('rejects a body whose content-length does not match with 400', async () => {
    const reply = await rawRequest(
      `POST ${CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-user: a\r\ncontent-length: 5\r\nconnection: close\r\n\r\n{"model":"gpt-4o"}`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
  });

  it('rejects a body nested too deeply to rewrite with 400, not a 5xx', async () => {
    const deep = `{"model":"gpt-4o","stream":true,"stream_options":{},"x":${'['.repeat(20000)}${']'.repeat(20000)}}`;
    expectOpenAiError(await send(CHAT, { headers: asUser('a'), body: deep }), 400, 'invalid_body', /nested too deeply/);
  });

  it('rejects a missing or empty x-user with 401 naming x-user', async () => {
    expectOpenAiError(await send(CHAT, { headers: { 'content-type': 'application/json' }, body: chatBody() }), 401, 'missing_user', /x-user/);
    expectOpenAiError(await send(CHAT, { headers: asUser(''), body: chatBody() }), 401, 'missing_user', /x-user/);
    expectOpenAiError(await send(CHAT, { headers: asUser('   '), body: chatBody() }), 401, 'missing_user', /x-user/);
  });

  it('rejects an x-user over 256 characters with 400', async () => {
    expectOpenAiError(await send(CHAT, { headers: asUser('u'.repeat(257)), body: chatBody() }), 400, 'invalid_user', /256/);
  });

  it('rejects an x-user with a control character with 400', async () => {
    expectOpenAiError(await send(CHAT, { headers: asUser('ad\tam'), body: chatBody() }), 400, 'invalid_user', /control characters/);
    const del = await rawRequest(
      `POST ${CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-user: ad\x7fam\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
    );
    expect(del).toMatch(/^HTTP\/1\.1 400/);
    expect(del).toMatch(/control characters|invalid/i);
  });

  it('answers a header the HTTP parser rejects (a NUL byte) with 400 JSON naming the problem', async () => {
    const reply = await rawRequest(`POST ${CHAT} HTTP/1.1\r\nhost: x\r\nx-user: ad\x00am\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`);
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'bad_http_request', message: expect.stringMatching(/header/i) });
  });

  it('forwarded none of these calls and recorded none', async () => {
    expect(h.upstream.received.length).toBe(forwardedBefore.n);
    const rows = await (await fetch(`${h.url}/queries?status=all`)).json();
    expect(rows).toEqual([]);
  });

  it('records a user sent as UTF-8 bytes by that name', async () => {
    const reply = await rawRequest(
      Buffer.concat([
        Buffer.from(`POST ${CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\nx-user: `),
        Buffer.from('jürgen', 'utf8'),
        Buffer.from(`\r\ncontent-length: ${Buffer.byteLength(chatBody())}\r\n\r\n${chatBody()}`),
      ]),
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    const rows = (await (await fetch(`${h.url}/queries?user=${encodeURIComponent('jürgen')}`)).json()) as { user: string }[];
    expect(rows.map((r) => r.user)).toEqual(['jürgen']);
  });

  it('does not hold multipart uploads to the JSON body limit', async () => {
    h.upstream.behaviour = { kind: 'json', status: 200, body: { id: 'file-1', object: 'file' } };
    const boundary = 'oapboundary';
    const payload = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.jsonl"\r\ncontent-type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.alloc(200 * 1024, 0x61),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await send('/v1/files', { headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-user': 'up' }, body: payload });
    h.upstream.behaviour = { kind: 'chat' };
    expect(res.status).toBe(200);
    expect(h.upstream.last.body.length).toBe(payload.length);
  });
});

describe('bad input on the admin API: a specific 4xx naming the problem', () => {
  const post = (name: string, body: unknown, contentType = 'application/json') =>
    send(`/model/${name}`, { headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('rejects invalid JSON, a body that is not an object and a wrong content type', async () => {
    expectAdminError(await post('gpt-4o', '{"validFrom":'), 400, 'invalid_json', /JSON/i);
    expectAdminError(await post('gpt-4o', [1]), 400, 'invalid_body', /JSON object/);
    expectAdminError(await post('gpt-4o', 'validFrom=2024', 'application/x-www-form-urlencoded'), 415, 'unsupported_content_type', /content-type/);
  });

  it.each([
    ['negative', -0.01],
    ['a string', '0.01'],
    ['infinite', Number.POSITIVE_INFINITY],
    ['an object', { usd: 1 }],
    ['a boolean', true],
  ])('rejects a price that is %s with 400 naming the field', async (_what, value) => {
    const body = `{"validFrom":"2024-01-01T00:00:00Z","per1KQueryTokens":${JSON.stringify(value) ?? 'null'}}`;
    const res = await post('gpt-4o', value === Number.POSITIVE_INFINITY ? body.replace('null', '1e400') : body);
    expectAdminError(res, 400, 'invalid_price', /per1KQueryTokens must be a number from 0 to 1000/);
  });

  it('rejects NaN, which JSON cannot carry, as invalid JSON', async () => {
    expectAdminError(await post('gpt-4o', '{"validFrom":"2024-01-01T00:00:00Z","per1KQueryTokens":NaN}'), 400, 'invalid_json', /JSON/i);
  });

  it('counts a missing price field as 0', async () => {
    const res = await post('free-model', { validFrom: '2024-01-01T00:00:00Z' });
    expect(res.status).toBe(200);
    expect(res.json.costs).toEqual([{ validFrom: '2024-01-01T00:00:00.000Z', per1KQueryTokens: 0, per1KAnswerTokens: 0 }]);
  });

  it.each([
    ['missing', undefined, /validFrom must be an ISO-8601 timestamp/],
    ['unparsable', 'yesterday', /validFrom 'yesterday' is not an ISO-8601 timestamp with a zone/],
    ['without a zone', '2024-01-01T00:00:00', /validFrom '2024-01-01T00:00:00' is not an ISO-8601 timestamp with a zone/],
    ['an impossible date', '2024-02-30T00:00:00Z', /validFrom/],
    ['a number', 1704067200000, /validFrom must be an ISO-8601 timestamp/],
  ])('rejects a validFrom that is %s with 400', async (_what, validFrom, message) => {
    expectAdminError(await post('gpt-4o', { validFrom, per1KQueryTokens: 0.01 }), 400, 'invalid_timestamp', message);
  });

  it('rejects an unknown field with 400 naming it', async () => {
    expectAdminError(await post('gpt-4o', { validFrom: '2024-01-01T00:00:00Z', per1kQueryTokens: 1 }), 400, 'unknown_field', /per1kQueryTokens/);
  });

  it('takes model names with a slash (URL-encoded), spaces, unicode and SQL fragments verbatim', async () => {
    const names = ['openai/gpt-4o', 'my model', 'modèle-ü-模型', "x'; DROP TABLE prices; --", 'ft:gpt-4o-mini:org:custom:abc123'];
    for (const name of names) {
      const res = await post(encodeURIComponent(name), { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 0.5 });
      expect(res.status, name).toBe(200);
      expect(res.json.name).toBe(name);
      const back = await send(`/model/${encodeURIComponent(name)}`, { method: 'GET' });
      expect(back.json).toMatchObject({ name, costs: [{ per1KQueryTokens: 0.5 }] });
    }
    const listed = (await send('/models', { method: 'GET' })).json.map((m: { name: string }) => m.name);
    for (const name of names) expect(listed).toContain(name);
  });

  it('says how to write a model name with a slash when it arrives unencoded', async () => {
    expectAdminError(await send('/model/openai/gpt-4o', { method: 'GET' }), 404, 'unknown_route', /%2F/);
  });

  it.each([
    ['a control character', 'gpt%0A4o', /control characters/],
    ['a NUL byte', 'gpt%004o', /control characters/],
    ['over 256 characters', 'm'.repeat(257), /1 to 256 characters/],
    ['leading or trailing spaces', '%20gpt-4o', /spaces/],
  ])('rejects a model name with %s with 400', async (_what, name, message) => {
    expectAdminError(await send(`/model/${name}`, { method: 'GET' }), 400, 'invalid_model_name', message);
  });

  it('rejects broken percent-encoding in a model name with 400', async () => {
    expectAdminError(await send('/model/gpt%E0%A4%A', { method: 'GET' }), 400, 'invalid_url', /percent-encoding/);
  });

  it('rejects a path segment far too long to be a model name with 414 JSON', async () => {
    expectAdminError(await send(`/model/${'m'.repeat(2000)}`, { method: 'GET' }), 414, 'url_too_long', /too long/);
  });

  it.each([
    ['/usage?user=a&user=b', 'repeated_parameter', /'user' is given more than once/],
    ['/usage?usr=a', 'unknown_parameter', /unknown parameter 'usr'/],
    ['/queries?limit=10&limit=20', 'repeated_parameter', /'limit'/],
    ['/queries?limit=0', 'invalid_parameter', /'limit' must be a whole number of at least 1/],
    ['/queries?offset=-1', 'invalid_parameter', /'offset'/],
    ['/queries?limit=ten', 'invalid_parameter', /'limit'/],
    ['/usage?after=2024-01-01T00:00:00', 'invalid_timestamp', /after '2024-01-01T00:00:00' is not an ISO-8601 timestamp with a zone/],
    ['/usage?before=soon', 'invalid_timestamp', /before 'soon'/],
    ['/usage?user=', 'invalid_user', /'user' must not be empty/],
    ['/usage?status=maybe', 'invalid_status', /'status' must be one of/],
    ['/models?name=gpt-4o', 'unknown_parameter', /unknown parameter 'name'/],
    ['/model/gpt-4o?at=now', 'unknown_parameter', /unknown parameter 'at'/],
    ['/ratelimits?kind=tokens', 'unknown_parameter', /unknown parameter 'kind'/],
    ['/health?verbose=1', 'unknown_parameter', /unknown parameter 'verbose'/],
  ])('rejects %s with 400', async (path, code, message) => {
    expectAdminError(await send(path, { method: 'GET' }), 400, code, message);
  });

  it('answers an unknown user with 404 naming the user', async () => {
    expectAdminError(await send('/usage?user=nobody', { method: 'GET' }), 404, 'unknown_user', /'nobody'/);
  });

  it.each([
    ['GET', '/nope'],
    ['GET', '/'],
    ['POST', '/v2/chat/completions'],
    ['DELETE', '/usage'],
    ['PUT', '/model/gpt-4o'],
  ])('answers %s %s with 404 JSON', async (method, path) => {
    expectAdminError(await send(path, { method }), 404, 'unknown_route', new RegExp(`no route for ${method}`));
  });

  it('answers /v1 itself with a 404 in the OpenAI shape', async () => {
    expectOpenAiError(await send('/v1', { method: 'GET', headers: { 'x-user': 'a' } }), 404, 'unknown_route', /no route/);
  });

  it('is still up and recorded nothing it should not have', async () => {
    expect((await send('/health', { method: 'GET' })).status).toBe(200);
    const rows = (await (await fetch(`${h.url}/queries?status=all`)).json()) as { user: string }[];
    expect(rows.map((r) => r.user).sort()).toEqual(['jürgen', 'up']);
  });
});

describe('bad input a caller or an upstream may try on purpose (hardening)', () => {
  it.each(['/v1/chat/%63ompletions', '/v1/chat/completions/', '/v1//chat/completions', '/v1/./chat/completions'])(
    'records a call through the respelled path %s under /v1/chat/completions, with its tokens',
    async (path) => {
      const res = await send(path, { headers: asUser('respelled'), body: chatBody({ stream: true }) });
      expect(res.status).toBe(200);
      expect(h.upstream.last.url).toBe(CHAT);
      const [row] = (await (await fetch(`${h.url}/queries?user=respelled&limit=1`)).json()) as Record<string, any>[];
      expect(row).toMatchObject({ endpoint: CHAT, estimated: false, queryTokens: 12 });
    },
  );

  it.each(['/v1/../../other/x', '/v1/./../admin', '/v1/%2e%2e/%2e%2e/other', '/v1/files/..%2f..%2f..%2fother', '/v1/..'])(
    'refuses the dot-segment path %s with 400 invalid_path, forwarding nothing',
    async (path) => {
      const forwarded = h.upstream.received.length;
      const reply = await rawRequest(`GET ${path} HTTP/1.1\r\nhost: x\r\nx-user: dots\r\nconnection: close\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error).toMatchObject({ code: 'invalid_path' });
      expect(h.upstream.received.length).toBe(forwarded);
    },
  );

  it('refuses an absolute-form target with 400 invalid_target in the OpenAI shape, forwarding nothing', async () => {
    const forwarded = h.upstream.received.length;
    const reply = await rawRequest('GET https://host.example/v1/models HTTP/1.1\r\nhost: host.example\r\nx-user: a\r\nconnection: close\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error).toMatchObject({ code: 'invalid_target' });
    expect(h.upstream.received.length).toBe(forwarded);
  });

  it('relays a CR-only stream and reads its usage', async () => {
    const usage = { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 };
    h.upstream.behaviour = {
      kind: 'custom',
      handle: (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(
          `data: {"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"}}]}\r\rdata: {"model":"gpt-4o","choices":[],"usage":${JSON.stringify(usage)}}\r\rdata: [DONE]\r\r`,
        );
      },
    };
    const res = await send(CHAT, { headers: asUser('cr-only'), body: chatBody({ stream: true }) });
    h.upstream.behaviour = { kind: 'chat' };
    expect(res.status).toBe(200);
    expect(res.text).toContain('data: [DONE]\r\r');
    const [row] = (await (await fetch(`${h.url}/queries?user=cr-only`)).json()) as Record<string, any>[];
    expect(row).toMatchObject({ queryTokens: 9, answerTokens: 2, estimated: false });
  });

  it.each(['99999999999h', '1e400s', '9999999999999999999999ms'])('keeps /ratelimits answering after a reset duration of %s', async (reset) => {
    h.upstream.behaviour = {
      kind: 'json',
      status: 200,
      body: { model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } },
      headers: { 'x-ratelimit-limit-tokens': '100', 'x-ratelimit-remaining-tokens': '99', 'x-ratelimit-reset-tokens': reset },
    };
    const res = await send(CHAT, { headers: asUser('durations'), body: chatBody() });
    h.upstream.behaviour = { kind: 'chat' };
    expect(res.status).toBe(200);
    const limits = await send('/ratelimits', { method: 'GET' });
    expect(limits.status).toBe(200);
    expect(limits.json.tokens).toEqual({ maximum: 100, remaining: 99, reset: null });
  });
});
