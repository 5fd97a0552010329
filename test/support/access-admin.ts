import OpenAI from 'openai';
import { expect } from 'vitest';

export const ADMIN_TOKEN = 'test-admin-token-4f1d2c';

export interface AdminAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** The admin API of a running proxy, called with the admin token (or another, or none). */
export function accessAdmin(baseUrl: () => string, token: string | null = ADMIN_TOKEN) {
  async function call(method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl()}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
  }
  async function ok(method: string, path: string, body?: unknown, status = 200): Promise<any> {
    const answer = await call(method, path, body);
    expect(answer.status, `${method} ${path}: ${JSON.stringify(answer.body)}`).toBe(status);
    return answer.body;
  }
  return {
    call,
    ok,
    /** POST /keys, asserted to succeed: the answer holds the secret `key`. */
    createKey: (body: Record<string, unknown>): Promise<any> => ok('POST', '/keys', body, 201),
    price: (model: string, per1KQueryTokens: number, per1KAnswerTokens: number) =>
      ok('POST', `/model/${encodeURIComponent(model)}`, { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens, per1KAnswerTokens }),
  };
}

/** The official SDK as a team member uses it against the proxy: its base URL and a key of the proxy. */
export const sdkWithKey = (proxyUrl: string, apiKey: string) => new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey, maxRetries: 0 });

/** One small chat call through the SDK. */
export const sayHi = (client: OpenAI, extra: Record<string, unknown> = {}) =>
  client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra } as any) as Promise<OpenAI.ChatCompletion>;
