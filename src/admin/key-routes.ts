import type { FastifyInstance } from 'fastify';
import { notFound } from '../http/errors.js';
import { newKeySecret } from '../store/access/key-secret.js';
import type { AccessPolicies, KeyWithSpend } from '../store/access-types.js';
import type { AccessRouteDeps } from './access-deps.js';
import { parseNewKeyBody, requireName } from './access-bodies.js';
import { budgetStates, budgetView, limitView } from './budget-views.js';
import { rejectQueryParams, singleValues } from './query-params.js';
import { isoUtc } from '../http/timestamps.js';

/**
 * POST /keys makes a key and shows its secret this once; GET /keys lists keys
 * (never a secret, only its first characters); DELETE /keys/{id} revokes one.
 */
export function registerKeyRoutes(app: FastifyInstance, deps: AccessRouteDeps): void {
  const { access } = deps;
  const now = deps.now ?? Date.now;

  const views = async (keys: KeyWithSpend[]) => {
    const policies = await access.policies();
    return Promise.all(keys.map((k) => keyView(k, policies)));
  };
  async function keyView(key: KeyWithSpend, policies: AccessPolicies) {
    const budget = policies.budgets.find((b) => b.scope === 'key' && b.subject === key.id);
    const limits = policies.limits.find((l) => l.scope === 'key' && l.subject === key.id);
    const [state] = budget ? await budgetStates(access, [budget], deps.timeZone, now()) : [];
    return {
      id: key.id,
      name: key.name,
      user: key.user,
      prefix: key.prefix,
      createdAt: isoUtc(key.createdAt),
      expiresAt: key.expiresAt === null ? null : isoUtc(key.expiresAt),
      revokedAt: key.revokedAt === null ? null : isoUtc(key.revokedAt),
      models: key.models,
      spent: key.spent,
      budget: state ? budgetView(state) : null,
      limits: limits ? limitView(limits) : null,
    };
  }
  const requireKey = async (id: string) => {
    const key = await access.getKey(id);
    if (!key) throw notFound('unknown_key', `no key has the id '${id}'`);
    return key;
  };

  app.post<{ Querystring: Record<string, unknown> }>('/keys', async (request, reply) => {
    rejectQueryParams(request.query);
    const createdAt = now();
    const body = parseNewKeyBody(request.body, createdAt);
    const secret = newKeySecret();
    await access.createKey({
      id: secret.id,
      secretHash: secret.hash,
      prefix: secret.prefix,
      user: body.user,
      name: body.name,
      createdAt,
      expiresAt: body.expiresAt,
      models: body.models,
    });
    if (body.budget) await access.putBudget({ scope: 'key', subject: secret.id, ...body.budget });
    if (body.limits) await access.putLimit({ scope: 'key', subject: secret.id, ...body.limits });
    if (body.budget || body.limits) deps.policiesChanged();
    const [view] = await views([await requireKey(secret.id)]);
    reply.code(201);
    // The one time the secret is shown: only its hash is kept.
    return { ...view, key: secret.secret };
  });

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>('/keys', async (request) => {
    const q = singleValues(request.query, ['user']);
    return views(await access.listKeys({ user: q.user === undefined ? undefined : requireName('user', q.user) }));
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>('/keys/:id', async (request) => {
    rejectQueryParams(request.query);
    return (await views([await requireKey(request.params.id)]))[0];
  });

  app.delete<{ Params: { id: string }; Querystring: Record<string, unknown> }>('/keys/:id', async (request) => {
    rejectQueryParams(request.query);
    await requireKey(request.params.id);
    await access.revokeKey(request.params.id, now());
    return (await views([await requireKey(request.params.id)]))[0];
  });
}
