/**
 * Session settings every connection of the proxy starts with. They travel in
 * the startup packet (libpq's `options`), so no query is queued behind the
 * connection's first one. jit=off: JIT compiling cost about 45 ms on a
 * re-price of a few thousand rows here and never pays off for the proxy's
 * short statements (needs PostgreSQL 11 or newer, as the proxy does).
 */
const SESSION_SETTINGS = '-c jit=off';

export interface ConnectionTarget {
  connectionString: string;
  /** Set when the URL has no `options` of its own; pg lets the URL's parameters override the pool's. */
  options?: string;
}

/** The URL and pool options that start each connection with SESSION_SETTINGS, keeping any `options` the URL carries. */
export function withSessionSettings(url: string): ConnectionTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url, options: SESSION_SETTINGS };
  }
  const own = parsed.searchParams.get('options');
  if (own === null) return { connectionString: url, options: SESSION_SETTINGS };
  // The operator's own jit setting wins.
  if (/\bjit\s*=/.test(own)) return { connectionString: url };
  parsed.searchParams.set('options', `${own} ${SESSION_SETTINGS}`);
  return { connectionString: parsed.toString() };
}
