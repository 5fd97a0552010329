import { expect } from 'vitest';

/** Small helpers for the admin API of a running proxy. */
export function adminClient(baseUrl: () => string) {
  async function getJson(path: string, status = 200): Promise<any> {
    const res = await fetch(`${baseUrl()}${path}`);
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(status);
    return body;
  }
  return {
    getJson,
    queries: (params = ''): Promise<Record<string, any>[]> => getJson(`/queries${params}`),
    usage: (params = ''): Promise<Record<string, any>> => getJson(`/usage${params}`),
    async postPrice(model: string, price: Record<string, unknown>): Promise<any> {
      const res = await fetch(`${baseUrl()}/model/${encodeURIComponent(model)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(price),
      });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      return body;
    },
  };
}
