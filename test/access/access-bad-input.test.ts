import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN } from '../support/access-admin.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';

describe('key, budget and limit routes refuse bad input', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`]);
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);

  const cases: [string, string, unknown, string][] = [
    ['POST', '/keys', {}, "'user'"],
    ['POST', '/keys', { user: '' }, "'user'"],
    ['POST', '/keys', { user: 'a\u0001b' }, "'user'"],
    ['POST', '/keys', { user: 'x'.repeat(257) }, "'user'"],
    ['POST', '/keys', { user: 'adam', name: 7 }, "'name'"],
    ['POST', '/keys', { user: 'adam', expiresAt: 'tomorrow' }, "'expiresAt'"],
    ['POST', '/keys', { user: 'adam', expiresAt: '2001-01-01T00:00:00Z' }, "'expiresAt'"],
    ['POST', '/keys', { user: 'adam', models: 'gpt-4o' }, "'models'"],
    ['POST', '/keys', { user: 'adam', models: [] }, "'models'"],
    ['POST', '/keys', { user: 'adam', models: ['gpt-4o', 3] }, "'models[1]'"],
    ['POST', '/keys', { user: 'adam', budget: { usd: -1, period: 'month' } }, "'budget.usd'"],
    ['POST', '/keys', { user: 'adam', budget: { usd: '5', period: 'month' } }, "'budget.usd'"],
    ['POST', '/keys', { user: 'adam', budget: { usd: 5, period: 'year' } }, "'budget.period'"],
    ['POST', '/keys', { user: 'adam', budget: { usd: 5, period: 'day', extra: 1 } }, "'budget.extra'"],
    ['POST', '/keys', { user: 'adam', limits: { rpm: 0 } }, "'limits.rpm'"],
    ['POST', '/keys', { user: 'adam', limits: { tpm: 1.5 } }, "'limits.tpm'"],
    ['POST', '/keys', { user: 'adam', limits: {} }, "'limits.rpm'"],
    ['POST', '/keys', { user: 'adam', admin: true }, "'admin'"],
    ['POST', '/keys', [], 'JSON object'],
    ['PUT', '/budgets/global', { usd: 5 }, "'period'"],
    ['PUT', '/budgets/global', { usd: Number.MAX_VALUE, period: 'day' }, "'usd'"],
    ['PUT', '/budgets/users/adam', { period: 'day' }, "'usd'"],
    ['PUT', '/limits/users/adam', { rpm: -3 }, "'rpm'"],
    ['PUT', '/limits/users/adam', { rpm: 5, rpd: 5 }, "'rpd'"],
    ['PUT', '/limits/global', 'fast', 'JSON object'],
  ];

  it('answers 400 naming the field, and stores nothing', async () => {
    await admin.ok('PUT', '/budgets/users/adam', { usd: 7, period: 'week' });
    await admin.ok('PUT', '/limits/users/adam', { rpm: 9 });
    for (const [method, path, body, field] of cases) {
      const answer = await admin.call(method, path, body);
      expect(answer.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(answer.body.message, JSON.stringify(body)).toContain(field);
    }
    expect(await admin.ok('GET', '/keys')).toEqual([]);
    expect(await admin.ok('GET', '/budgets')).toMatchObject([{ scope: 'user', user: 'adam', usd: 7, period: 'week' }]);
    expect(await admin.ok('GET', '/limits')).toEqual([{ scope: 'user', user: 'adam', rpm: 9, tpm: null }]);
  });

  it('404s a budget or limit for a key that does not exist, and unknown query parameters are 400', async () => {
    expect((await admin.call('PUT', '/budgets/keys/key_nope', { usd: 1, period: 'day' })).status).toBe(404);
    expect((await admin.call('PUT', '/limits/keys/key_nope', { rpm: 1 })).status).toBe(404);
    expect((await admin.call('GET', '/keys?owner=adam')).status).toBe(400);
    expect((await admin.call('GET', '/budgets/users/nobody')).status).toBe(404);
  });
});
