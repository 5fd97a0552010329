import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../http/errors.js';
import type { Subject } from '../store/access-types.js';
import type { AccessRouteDeps } from './access-deps.js';
import { parseBudgetSpec, parseLimitSpec, requireName } from './access-bodies.js';
import { budgetStates, budgetView, limitView } from './budget-views.js';
import { rejectQueryParams } from './query-params.js';

type Params = { user?: string; id?: string };

/** The three places a budget or a limit can be put: everyone, one user, one key. */
const SUBJECT_PATHS = ['global', 'users/:user', 'keys/:id'] as const;

/**
 * PUT/GET/DELETE /budgets/global, /budgets/users/{user}, /budgets/keys/{id},
 * and the same under /limits; GET /budgets and GET /limits list them all,
 * budgets with what is spent and held in their current period.
 */
export function registerBudgetRoutes(app: FastifyInstance, deps: AccessRouteDeps): void {
  const { access } = deps;
  const now = deps.now ?? Date.now;

  async function subjectOf(path: (typeof SUBJECT_PATHS)[number], params: Params): Promise<Subject> {
    if (path === 'global') return { scope: 'global', subject: '' };
    if (path === 'users/:user') return { scope: 'user', subject: requireName('user', params.user) };
    const id = params.id ?? '';
    if (!(await access.getKey(id))) throw notFound('unknown_key', `no key has the id '${id}'`);
    return { scope: 'key', subject: id };
  }
  const changed = (reply: FastifyReply) => {
    deps.policiesChanged();
    return reply;
  };
  const budgetState = async (s: Subject) => {
    const budget = (await access.policies()).budgets.find((b) => b.scope === s.scope && b.subject === s.subject);
    if (!budget) throw notFound('no_budget', `there is no budget for ${describe(s)}`);
    const [state] = await budgetStates(access, [budget], deps.timeZone, now());
    return budgetView(state);
  };
  const limit = async (s: Subject) => {
    const found = (await access.policies()).limits.find((l) => l.scope === s.scope && l.subject === s.subject);
    if (!found) throw notFound('no_limit', `there is no rate limit for ${describe(s)}`);
    return limitView(found);
  };

  app.get<{ Querystring: Record<string, unknown> }>('/budgets', async (request) => {
    rejectQueryParams(request.query);
    return (await budgetStates(access, (await access.policies()).budgets, deps.timeZone, now())).map(budgetView);
  });
  app.get<{ Querystring: Record<string, unknown> }>('/limits', async (request) => {
    rejectQueryParams(request.query);
    return (await access.policies()).limits.map(limitView);
  });

  for (const path of SUBJECT_PATHS) {
    app.put<{ Params: Params; Querystring: Record<string, unknown> }>(`/budgets/${path}`, async (request, reply) => {
      rejectQueryParams(request.query);
      const spec = parseBudgetSpec(request.body);
      const subject = await subjectOf(path, request.params);
      await access.putBudget({ ...subject, ...spec });
      changed(reply);
      return budgetState(subject);
    });
    app.get<{ Params: Params; Querystring: Record<string, unknown> }>(`/budgets/${path}`, async (request) => {
      rejectQueryParams(request.query);
      return budgetState(await subjectOf(path, request.params));
    });
    app.delete<{ Params: Params; Querystring: Record<string, unknown> }>(`/budgets/${path}`, async (request, reply) => {
      rejectQueryParams(request.query);
      const subject = await subjectOf(path, request.params);
      if (!(await access.deleteBudget(subject))) throw notFound('no_budget', `there is no budget for ${describe(subject)}`);
      return changed(reply).code(204).send();
    });

    app.put<{ Params: Params; Querystring: Record<string, unknown> }>(`/limits/${path}`, async (request, reply) => {
      rejectQueryParams(request.query);
      const spec = parseLimitSpec(request.body);
      const subject = await subjectOf(path, request.params);
      await access.putLimit({ ...subject, ...spec });
      changed(reply);
      return limit(subject);
    });
    app.get<{ Params: Params; Querystring: Record<string, unknown> }>(`/limits/${path}`, async (request) => {
      rejectQueryParams(request.query);
      return limit(await subjectOf(path, request.params));
    });
    app.delete<{ Params: Params; Querystring: Record<string, unknown> }>(`/limits/${path}`, async (request, reply) => {
      rejectQueryParams(request.query);
      const subject = await subjectOf(path, request.params);
      if (!(await access.deleteLimit(subject))) throw notFound('no_limit', `there is no rate limit for ${describe(subject)}`);
      return changed(reply).code(204).send();
    });
  }
}

function describe(s: Subject): string {
  if (s.scope === 'global') return 'the proxy as a whole';
  return s.scope === 'user' ? `user '${s.subject}'` : `key ${s.subject}`;
}
