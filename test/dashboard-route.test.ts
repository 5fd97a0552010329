import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDashboardRoute } from '../src/admin/dashboard-route.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

describe('GET /dashboard', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  it('sends /dashboard on to /dashboard/, where the page and its vendored chart library are served with a strict policy', async () => {
    const redirect = await fetch(`${h.url}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(new URL(redirect.headers.get('location') ?? '', `${h.url}/dashboard`).pathname).toBe('/dashboard/');
    const page = await fetch(`${h.url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await fetch(`${h.url}/dashboard/vendor/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('uPlot');
  });

  it("serves only the page's own files", async () => {
    for (const path of ['/dashboard/nothing.js', '/dashboard/..%2Fpackage.json', '/dashboard/%2e%2e/%2e%2e/package.json']) {
      const res = await fetch(`${h.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('"dependencies"');
    }
  });

  it('answers 503 naming the folder when the page is not installed, and the proxy still starts', async () => {
    const warnings: string[] = [];
    const app = Fastify();
    registerDashboardRoute(app, { dir: '/nonexistent/dashboard/', warn: (m) => warnings.push(m) });
    const res = await app.inject({ url: '/dashboard/' });
    expect(res.statusCode).toBe(503);
    expect(warnings[0]).toContain('/nonexistent/dashboard/');
    await app.close();
  });
});
