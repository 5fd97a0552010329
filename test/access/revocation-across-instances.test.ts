import type OpenAI from 'openai';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describeEachStore } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { UpstreamStandIn } from '../support/upstream-stand-in.js';

describeEachStore('keys across two instances', (store) => {
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    const flags = [`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'];
    a = await startHarness(flags, { store });
    b = await startHarness(flags, { store, databaseUrl: a.databaseUrl, upstream: new UpstreamStandIn() });
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('a key made on one instance works on the other, and its revocation there is seen within a second', async () => {
    const made = await accessAdmin(() => a.url).createKey({ user: 'adam' });
    const onB = sdkWithKey(b.url, made.key);
    // Calls keep B's memory of the key warm right up to the revocation.
    for (let i = 0; i < 5; i++) await sayHi(onB);
    await accessAdmin(() => a.url).ok('DELETE', `/keys/${made.id}`);
    const revokedAt = Date.now();
    let refusedAfter: number | undefined;
    while (Date.now() - revokedAt < 3000) {
      const status = await sayHi(onB).then(
        () => 200,
        (e) => (e as InstanceType<typeof OpenAI.APIError>).status,
      );
      if (status === 401) {
        refusedAfter = Date.now() - revokedAt;
        break;
      }
      expect(status).toBe(200);
    }
    expect(refusedAfter, 'B never refused the revoked key').toBeDefined();
    expect(refusedAfter!).toBeLessThan(1000);
    // And B's admin API shows the same key, revoked.
    expect((await accessAdmin(() => b.url).ok('GET', `/keys/${made.id}`)).revokedAt).toEqual(expect.any(String));
  });
});
