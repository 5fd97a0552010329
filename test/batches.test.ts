import OpenAI from 'openai';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN } from './support/access-admin.js';
import { adminClient } from './support/admin-client.js';
import { describeEachStore } from './support/each-store.js';
import { FORWARD_TOKEN, startHarness, type Harness } from './support/proxy-harness.js';
import { UpstreamStandIn } from './support/upstream-stand-in.js';
import type { QueryRecord, RateLimitSnapshot, Store } from '../src/store/types.js';

/**
 * A stand-in for OpenAI's Batch API: POST /v1/batches creates `batch_abc`,
 * GET /v1/batches/batch_abc answers with `status` (a test moves it on), and
 * the output file holds one line per request, as the API reference shapes
 * them (id, custom_id, response {status_code, request_id, body}, error).
 */
class BatchApi {
  status = 'in_progress';
  outputFileId: string | null = 'file-out';
  polls = 0;
  downloads = 0;
  lines = [
    outputLine('batch_req_1', { prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200, prompt_tokens_details: { cached_tokens: 0 } }),
    outputLine('batch_req_2', { prompt_tokens: 500, completion_tokens: 100, total_tokens: 600, prompt_tokens_details: { cached_tokens: 0 } }),
    JSON.stringify({ id: 'batch_req_3', custom_id: 'request-3', response: null, error: { code: 'server_error', message: 'failed' } }),
  ];

  handle = (req: IncomingMessage, _body: Buffer, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/batches') return json(res, this.batch('validating'));
    if (req.method === 'GET' && path === '/v1/batches/batch_abc') {
      this.polls++;
      return json(res, this.batch(this.status));
    }
    if (req.method === 'GET' && path === '/v1/files/file-out/content') {
      this.downloads++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Cut mid-line, as a real download arrives.
      const text = `${this.lines.join('\n')}\n`;
      res.write(text.slice(0, 37));
      res.end(text.slice(37));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no ${path}`, type: 'invalid_request_error' } }));
  };

  private batch(status: string) {
    const done = status !== 'validating' && status !== 'in_progress';
    return {
      id: 'batch_abc',
      object: 'batch',
      endpoint: '/v1/chat/completions',
      errors: null,
      input_file_id: 'file-in',
      completion_window: '24h',
      status,
      output_file_id: done ? this.outputFileId : null,
      error_file_id: null,
      created_at: 1_700_000_000,
      request_counts: { total: 3, completed: 2, failed: 1 },
      metadata: null,
    };
  }
}

function outputLine(id: string, usage: Record<string, unknown>) {
  return JSON.stringify({
    id,
    custom_id: `request-${id}`,
    response: {
      status_code: 200,
      request_id: `req_${id}`,
      body: {
        id: 'chatcmpl-b',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'gpt-4o-mini-2024-07-18',
        choices: [],
        usage,
        service_tier: 'default',
      },
    },
    error: null,
  });
}

function json(res: ServerResponse, body: unknown) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const POLL = ['--batches.poll-interval=40ms'];
// gpt-4o-mini at the batch tier: half of $0.15 and $0.60 per million.
const BATCH_COSTS = [(1000 * 0.000075 + 200 * 0.0003) / 1000, (500 * 0.000075 + 100 * 0.0003) / 1000];

const harnesses: Harness[] = [];
afterEach(async () => {
  // Newest first: a later instance may share the first one's database, which its close() drops.
  for (const h of harnesses.splice(0).reverse()) await h.close();
});

async function waitFor<T>(what: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const batchRows = async (url: string) => ((await adminClient(() => url).queries()) as Record<string, any>[]).filter((r) => r.batchId === 'batch_abc');

describeEachStore('Batch API jobs', (store) => {
  async function start(api: BatchApi, databaseUrl?: string, wrapStore?: (s: Store) => Store) {
    const upstream = new UpstreamStandIn();
    upstream.behaviour = { kind: 'custom', handle: api.handle };
    const h = await startHarness(POLL, { store, upstream, databaseUrl, wrapStore });
    harnesses.push(h);
    return h;
  }
  const create = (h: Harness) =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': 'ada' }, maxRetries: 0 }).batches.create({
      input_file_id: 'file-in',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });

  it('records each request of a finished job as a query of its creator, at batch prices, with the job’s id', async () => {
    const api = new BatchApi();
    const h = await start(api);
    expect((await create(h)).id).toBe('batch_abc');
    await waitFor(async () => (api.polls >= 2 ? true : undefined));
    expect(await batchRows(h.url)).toEqual([]);
    expect(h.upstream.received.find((r) => r.url === '/v1/batches/batch_abc')?.headers.authorization).toBe(`Bearer ${FORWARD_TOKEN}`);

    api.status = 'completed';
    const rows = await waitFor(async () => {
      const r = await batchRows(h.url);
      return r.length === 2 ? r : undefined;
    });
    expect(rows).toMatchObject([
      {
        user: 'ada',
        endpoint: '/v1/chat/completions',
        model: 'gpt-4o-mini-2024-07-18',
        queryTokens: 1000,
        answerTokens: 200,
        serviceTier: 'batch',
        tierFallback: false,
      },
      { user: 'ada', queryTokens: 500, answerTokens: 100, serviceTier: 'batch' },
    ]);
    expect(rows.map((r) => r.cost)).toEqual(BATCH_COSTS.map((c) => expect.closeTo(c, 12)));
    const pollsWhenDone = api.polls;
    await new Promise((r) => setTimeout(r, 200));
    expect(api.polls).toBe(pollsWhenDone);
  });

  it('records the results of a job created with a key of the proxy as its user’s, under that key and within its budget', async () => {
    const api = new BatchApi();
    api.status = 'completed';
    const upstream = new UpstreamStandIn();
    upstream.behaviour = { kind: 'custom', handle: api.handle };
    const h = await startHarness([...POLL, `--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store, upstream });
    harnesses.push(h);
    const admin = accessAdmin(() => h.url);
    const { id, key } = await admin.createKey({ user: 'grace', budget: { usd: 100, period: 'total' } });
    await new OpenAI({ baseURL: `${h.url}/v1`, apiKey: key, maxRetries: 0 }).batches.create({
      input_file_id: 'file-in',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const rows = await waitFor(async () => {
      const r = ((await admin.ok('GET', '/queries')) as Record<string, any>[]).filter((q) => q.batchId === 'batch_abc');
      return r.length === 2 ? r : undefined;
    });
    expect(rows).toMatchObject([
      { user: 'grace', key: id, queryTokens: 1000, serviceTier: 'batch' },
      { user: 'grace', key: id, queryTokens: 500, serviceTier: 'batch' },
    ]);
    expect(rows.map((r) => r.cost)).toEqual(BATCH_COSTS.map((c) => expect.closeTo(c, 12)));
    // The job's creation started the budget's count; its results, recorded later, are added to it.
    const budget = await waitFor(async () => {
      const b = await admin.ok('GET', `/budgets/keys/${id}`);
      return b.spent > 0 ? b : undefined;
    });
    expect(budget.spent).toBeCloseTo(BATCH_COSTS[0] + BATCH_COSTS[1], 9);
    expect(budget.reserved).toBe(0);
  });

  it('counts nothing twice when the creator also downloads the output file through the proxy', async () => {
    const api = new BatchApi();
    api.status = 'completed';
    const h = await start(api);
    await create(h);
    await waitFor(async () => ((await batchRows(h.url)).length === 2 ? true : undefined));
    const download = await fetch(`${h.url}/v1/files/file-out/content`, { headers: { 'x-user': 'ada' } });
    expect((await download.text()).split('\n').filter(Boolean)).toHaveLength(3);
    const usage = await adminClient(() => h.url).usage('?user=ada');
    expect(usage).toMatchObject({ queryTokens: 1500, answerTokens: 300 });
    expect(usage.cost).toBeCloseTo(BATCH_COSTS[0] + BATCH_COSTS[1], 12);
  });

  it('a proxy restarted while a job runs resumes polling it, and a second instance on the same database counts nothing twice', async () => {
    const api = new BatchApi();
    const first = await start(api);
    await create(first);
    await waitFor(async () => (api.polls >= 1 ? true : undefined));
    await first.proxy.stop();

    api.status = 'expired';
    const second = await start(api, first.databaseUrl);
    const third = await start(api, first.databaseUrl);
    await waitFor(async () => ((await batchRows(second.url)).length === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(await batchRows(third.url)).toHaveLength(2);
  });

  it('keeps the results of a job that ends while the database cannot take them, in the journal, and writes each once', async () => {
    const api = new BatchApi();
    api.status = 'completed';
    let databaseDown = true;
    // The database refuses the result rows only: the job itself is read and finished as usual.
    const refusingResults = (inner: Store): Store =>
      new Proxy(inner, {
        get(target, name) {
          if (name === 'recordQuery') {
            return (q: QueryRecord, r?: RateLimitSnapshot) =>
              databaseDown && q.batchId ? Promise.reject(new Error('SQLITE_FULL: database or disk is full (injected)')) : target.recordQuery(q, r);
          }
          const value = Reflect.get(target, name);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const h = await start(api, undefined, refusingResults);
    await create(h);
    await waitFor(async () => (h.proxy.store.health().journal.pending === 2 ? true : undefined));
    expect(await batchRows(h.url)).toEqual([]);
    databaseDown = false;
    await h.proxy.store.runPass();
    await h.proxy.store.runPass();
    const rows = await batchRows(h.url);
    expect(rows.map((r) => [r.queryTokens, r.serviceTier])).toEqual([
      [1000, 'batch'],
      [500, 'batch'],
    ]);
    expect(rows.map((r) => r.cost)).toEqual(BATCH_COSTS.map((c) => expect.closeTo(c, 12)));
  });

  it('finishes a failed job without an output file, counting nothing', async () => {
    const api = new BatchApi();
    api.status = 'failed';
    api.outputFileId = null;
    const h = await start(api);
    await create(h);
    await waitFor(async () => (api.polls >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(api.polls).toBe(1);
    expect(api.downloads).toBe(0);
    expect(await batchRows(h.url)).toEqual([]);
  });
});
