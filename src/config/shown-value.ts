import type { KeySpec } from './keys.js';

const MASK = '***';

/** A URL with its password (in the user part or a `password` query parameter) masked; other text unchanged. */
export function maskUrlPassword(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not a URL the parser takes, but it may still carry user:password@.
    return text.replace(/:[^:@/]*@/, `:${MASK}@`);
  }
  if (!url.password && !url.searchParams.has('password')) return text;
  if (url.password) url.password = MASK;
  if (url.searchParams.has('password')) url.searchParams.set('password', MASK);
  return url.toString();
}

/** A setting's value as it may be printed anywhere (help, logs, errors): in its own units, secrets masked. */
export function shownValue(spec: KeySpec, value: unknown): string {
  if (spec.secret === 'value') return MASK;
  const text = spec.value.show ? spec.value.show(value) : String(value);
  return spec.secret === 'url-password' ? maskUrlPassword(text) : text;
}

/** `message` with every appearance of a secret setting's raw value masked, for errors that quote what was given. */
export function withoutSecret(spec: KeySpec, raw: unknown, message: string): string {
  if (!spec.secret || raw === null || raw === undefined) return message;
  // String() as the parsers quote it: a YAML list ['sk-...'] is quoted as sk-...
  const text = String(raw).trim();
  return text === '' ? message : message.split(text).join(shownValue(spec, text));
}
