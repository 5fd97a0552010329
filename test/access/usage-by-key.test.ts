import { afterEach, beforeEach, expect, it } from 'vitest';
import { ADMIN_TOKEN, accessAdmin, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describeEachStore } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';

describeEachStore('usage grouped and filtered by key', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=either'], { store });
  });
  afterEach(() => h.close());
  const admin = accessAdmin(() => h.url);

  /** Calls through two keys of one user and one without a key, so per-user sums cannot stand in for per-key ones. */
  async function callsOfTwoKeysAndNone() {
    await admin.price('gpt-4o', 1, 2);
    const laptop = await admin.createKey({ user: 'adam', name: 'laptop' });
    const ci = await admin.createKey({ user: 'adam', name: 'ci' });
    for (let i = 0; i < 3; i++) await sayHi(sdkWithKey(h.url, laptop.key));
    await sayHi(sdkWithKey(h.url, ci.key));
    const noKey = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'adam' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(noKey.status).toBe(200);
    await noKey.text();
    return { laptop, ci };
  }

  it('gives each key its own group, calls without a key a null one, each equal to /usage?key=', async () => {
    const { laptop, ci } = await callsOfTwoKeysAndNone();
    const { groups }: { groups: { key: string | null; numQueries: number; cost: number }[] } = await admin.ok('GET', '/usage?groupBy=key');
    const byKey = new Map(groups.map((g) => [g.key, g]));
    expect(byKey.get(laptop.id)?.numQueries).toBe(3);
    expect(byKey.get(ci.id)?.numQueries).toBe(1);
    expect(byKey.get(null)?.numQueries).toBe(1);
    for (const id of [laptop.id, ci.id]) {
      const alone = await admin.ok('GET', `/usage?key=${id}`);
      expect(byKey.get(id)).toMatchObject({ numQueries: alone.numQueries, cost: alone.cost });
    }
    const total = await admin.ok('GET', '/usage');
    expect(groups.reduce((n, g) => n + g.numQueries, 0)).toBe(total.numQueries);
  });

  it('counts only the key asked for when another grouping is read with a key filter', async () => {
    const { laptop } = await callsOfTwoKeysAndNone();
    const {
      groups: [byModel],
    } = await admin.ok('GET', `/usage?groupBy=model&key=${laptop.id}`);
    // The stand-in answers with the dated snapshot, which is what is recorded.
    expect(byModel).toMatchObject({ model: 'gpt-4o-2024-08-06', numQueries: 3 });
    const { groups: byDay }: { groups: { key: string | null; numQueries: number }[] } = await admin.ok('GET', '/usage?groupBy=day,key');
    expect(byDay.filter((g) => g.key === laptop.id).reduce((n, g) => n + g.numQueries, 0)).toBe(3);
  });

  it('refuses a groupBy field it does not know, naming the known ones, key among them', async () => {
    const answer = await admin.call('GET', '/usage?groupBy=team');
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toMatch(/'team' is not one of user, model, endpoint, key, hour, day, month/);
  });
});
