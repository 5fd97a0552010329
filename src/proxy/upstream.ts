import { Pool } from 'undici';

export interface Upstream {
  pool: Pool;
  /** Path prefix of forward.url, e.g. `/v1`, without a trailing slash. */
  basePath: string;
  origin: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  close(): Promise<void>;
}

/**
 * forward.url may be a base (`https://api.openai.com/v1`) or, as the original
 * proxy took it, the full chat endpoint (`.../v1/chat/completions`).
 */
export function normaliseForwardUrl(url: string): { origin: string; basePath: string } {
  const parsed = new URL(url);
  let path = parsed.pathname.replace(/\/+$/, '');
  path = path.replace(/\/chat\/completions$/, '');
  return { origin: parsed.origin, basePath: path };
}

export function createUpstream(opts: { url: string; connectTimeoutMs: number; idleTimeoutMs: number }): Upstream {
  const { origin, basePath } = normaliseForwardUrl(opts.url);
  const pool = new Pool(origin, {
    connect: { timeout: opts.connectTimeoutMs },
    // undici's 300 s defaults cut off long reasoning calls; both are "silence" limits, not totals.
    headersTimeout: opts.idleTimeoutMs,
    bodyTimeout: opts.idleTimeoutMs,
    keepAliveTimeout: 30_000,
  });
  return {
    pool,
    basePath,
    origin,
    connectTimeoutMs: opts.connectTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    close: () => pool.close(),
  };
}

/** The upstream path for a call's normalised `/v1/...` path and its query string as sent. */
export function upstreamPath(upstream: Upstream, path: string, query: string): string {
  return upstream.basePath + path.slice(3) + query;
}
