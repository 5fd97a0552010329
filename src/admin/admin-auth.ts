import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Routes anyone may reach: the proxied API (its callers are checked by the
 * proxy), the health probe, and the dashboard's static files, which hold no
 * data: every figure the page shows comes from the admin routes, and the page
 * asks for the token to call them (a browser cannot send a bearer header when
 * it first loads a page). Told by the route matched, not by the URL's text, so
 * no spelling of a path can reach an admin route as an open one.
 */
const OPEN_ROUTES = new Set(['/v1/*', '/health', '/dashboard', '/dashboard/*']);

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * With admin.token set, every admin route (all but /v1/* and /health, and
 * any added later) needs `Authorization: Bearer <admin token>`. The digests
 * are compared, in constant time, so neither the token's characters nor its
 * length can be learnt from how long a refusal takes.
 */
export function requireAdminToken(app: FastifyInstance, token: string): void {
  const isAdmin = adminTokenCheck(token);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? '') || isAdmin(request)) return;
    const match = bearer(request);
    const message = match !== undefined ? 'the admin token is wrong' : 'the admin API needs the admin token: send Authorization: Bearer <admin.token>';
    reply.code(401).header('www-authenticate', 'Bearer').header('content-type', 'application/json; charset=utf-8');
    return reply.send(JSON.stringify({ error: { message, type: 'authentication_error', code: 'invalid_admin_token', param: null } }));
  });
}

/** Whether a request carries the admin token (for /health, which shows its details only to the administrator). */
export function adminTokenCheck(token: string): (request: FastifyRequest) => boolean {
  const expected = digest(token);
  return (request) => {
    const given = bearer(request);
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };
}

const bearer = (request: FastifyRequest) => /^Bearer\s+(.+?)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
