import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

// Hop-by-hop headers (RFC 9110 §7.6.1) never cross a proxy.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

// Also dropped on the way up: the proxy's own routing header, the client's Host, and
// framing the proxy recomputes. accept-encoding is replaced so the answer can be read for usage.
const NOT_FORWARDED_UP = new Set([...HOP_BY_HOP, 'host', 'x-user', 'expect', 'accept-encoding']);
const NOT_FORWARDED_DOWN = new Set(HOP_BY_HOP);

// Which organisation and project of the key a call bills: the proxy's to decide, not the caller's (unless allowed).
const BILLING = ['openai-organization', 'openai-project'] as const;

/** The organisation and project calls bill, and whether callers may choose their own. */
export interface BillingHeaders {
  organization?: string;
  project?: string;
  callersChoose: boolean;
}

export function upstreamRequestHeaders(
  client: IncomingHttpHeaders,
  opts: { forwardToken?: string; bodyReplaced: boolean; billing?: BillingHeaders },
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(client.connection);
  const callersChoose = opts.billing?.callersChoose ?? false;
  // for...in, not Object.entries: no array of pairs per call on the hot path.
  for (const name in client) {
    const value = client[name];
    if (value === undefined || NOT_FORWARDED_UP.has(name) || listed.has(name)) continue;
    if (name === 'content-length' && opts.bodyReplaced) continue;
    if (!callersChoose && (name === BILLING[0] || name === BILLING[1])) continue;
    out[name] = value;
  }
  if (opts.billing?.organization && out[BILLING[0]] === undefined) out[BILLING[0]] = opts.billing.organization;
  if (opts.billing?.project && out[BILLING[1]] === undefined) out[BILLING[1]] = opts.billing.project;
  if (opts.forwardToken) out.authorization = `Bearer ${opts.forwardToken}`;
  out['accept-encoding'] = 'identity';
  return out;
}

export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>, opts: { bodyMayChange: boolean }): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(upstream.connection);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || NOT_FORWARDED_DOWN.has(name) || listed.has(name)) continue;
    if (name === 'content-length' && opts.bodyMayChange) continue;
    out[name] = value;
  }
  return out;
}

/** Headers named in Connection are hop-by-hop too. */
const NONE_LISTED: ReadonlySet<string> = new Set();

function connectionListed(value: string | string[] | undefined): ReadonlySet<string> {
  if (!value) return NONE_LISTED;
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(
    text
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}
