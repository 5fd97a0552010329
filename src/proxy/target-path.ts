import { badRequest } from '../http/errors.js';

export interface Target {
  /** The path in normal form, e.g. `/v1/chat/completions`: what the call is, what is recorded and what goes upstream. */
  path: string;
  /** The query string as sent, with its `?`, or ''. */
  query: string;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The one reading of a /v1 request target, made once as the call arrives.
 * Respellings of the same path (`%63`, `//`, a trailing `/`, `.` and `..`
 * segments) become one normal form, so that no spelling escapes accounting;
 * a target that is not a path (absolute-form, `*`) or that leaves `/v1/`
 * under any reading an upstream might make is refused before anything is
 * forwarded with the organisation's key.
 */
export function normaliseTarget(rawUrl: string): Target {
  if (!rawUrl.startsWith('/')) {
    throw badRequest('invalid_target', 'the request target must be a path such as /v1/chat/completions, not an absolute URL');
  }
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q);
  if (isNormalV1Path(rawPath)) return { path: rawPath, query };

  const path = removeDotSegments(decodeUnreserved(rawPath));
  if (!isUnderV1(path)) throw leavesV1(rawPath);
  // An upstream or gateway may decode %2F and %5C, or take `\` for `/`, before resolving dot segments.
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw badRequest('invalid_path', `the path '${rawPath}' has broken percent-encoding`);
  }
  if (CONTROL.test(decoded)) throw badRequest('invalid_path', 'the path must not contain control characters');
  if (!isUnderV1(removeDotSegments(decoded.replace(/\\/g, '/')))) throw leavesV1(rawPath);
  return { path, query };
}

/**
 * Nearly every call's path is already in normal form: nothing to decode, no empty or dot segment, no backslash.
 * Such a path reads the same under every step below, so it skips them.
 */
const isNormalV1Path = (path: string): boolean =>
  path.length > 4 &&
  path.startsWith('/v1/') &&
  !path.endsWith('/') &&
  !path.includes('//') &&
  !path.includes('/.') &&
  !path.includes('%') &&
  !path.includes('\\') &&
  !CONTROL.test(path);

const isUnderV1 = (path: string) => path.startsWith('/v1/') && path.length > 4;

const leavesV1 = (rawPath: string) =>
  badRequest('invalid_path', `the path '${rawPath}' does not name an endpoint under /v1/ once its '.' and '..' segments are resolved`);

/** %XX of letters, digits and `-._~` are the characters themselves (RFC 3986 §6.2.2.2); other escapes stay, upper-cased. */
function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9A-Fa-f]{2})|%/g, (percent, hex: string | undefined) => {
    if (hex === undefined) throw badRequest('invalid_path', 'the path has broken percent-encoding');
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : percent.toUpperCase();
  });
}

/** Empty segments (`//`, a trailing `/`) dropped, `.` and `..` resolved; `..` never climbs above the root. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      // Climbing above the root stays at the root, as RFC 3986 resolves it, and so leaves /v1/.
      if (out.length === 0) return '/';
      out.pop();
    } else out.push(segment);
  }
  return `/${out.join('/')}`;
}
