import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../http/errors.js';

/** The page's folder, dashboard/ at the package's root: two levels up from src/admin/ and from dist/admin/ alike. */
const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The page may load and call only what the proxy itself serves. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  type: string;
  body: Buffer;
}

/** Every file of the page, read once at start-up (about 60 KB): a request can only name one of these. */
function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (TYPES[extname(name)]) assets.set(relative(dir, path).split(sep).join('/'), { type: TYPES[extname(name)], body: readFileSync(path) });
    }
  };
  walk(dir);
  return assets;
}

/**
 * GET /dashboard: the usage dashboard, a static page served from the package
 * (no CDN; its chart library is vendored from npm at build time). The page
 * itself holds no data; it reads the admin API with the admin token the user
 * enters, so it is served to anyone who can reach the admin routes.
 */
export function registerDashboardRoute(app: FastifyInstance, { dir = DASHBOARD_DIR, warn }: { dir?: string; warn: (msg: string) => void }): void {
  const assets = existsSync(dir) ? readAssets(dir) : new Map<string, Asset>();
  const index = assets.get('index.html');
  // A proxy without the page's files (a copy of dist/ alone) still proxies; only /dashboard says what is missing.
  if (!index) warn(`the dashboard's files are missing from ${dir}; /dashboard answers 503`);
  else if (!assets.has('vendor/uPlot.iife.min.js')) {
    warn(`the dashboard's chart library is missing from ${dir}vendor (run npm run build); /dashboard shows its figures as tables only`);
  }
  const missing = () => new ApiError(503, 'dashboard_missing', `the dashboard's files are not installed in ${dir}`);

  app.get('/dashboard', async (request, reply) => {
    // The page links its files relatively, so it must be read as a folder: /dashboard/.
    if (!request.url.split('?')[0].endsWith('/')) return reply.redirect('dashboard/', 302);
    if (!index) throw missing();
    return reply.headers(SECURITY_HEADERS).type(index.type).send(index.body);
  });
  app.get<{ Params: { '*': string } }>('/dashboard/*', async (request, reply) => {
    const path = request.params['*'];
    if (!index) throw missing();
    const asset = assets.get(path === '' ? 'index.html' : path);
    if (!asset) throw new ApiError(404, 'not_found', `the dashboard has no file '${path}'`);
    return reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);
  });
}
