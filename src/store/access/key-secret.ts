import { createHash, randomBytes, randomUUID } from 'node:crypto';

export const KEY_PREFIX = 'oap-';
/** How much of a secret GET /keys shows, enough to tell keys apart and to search a log for one. */
const SHOWN_CHARS = 12;

export interface NewKeySecret {
  id: string;
  /** Shown to the caller once, never stored. */
  secret: string;
  hash: string;
  prefix: string;
}

/** `oap-` + 32 random bytes, base64url: 256 bits, so a plain SHA-256 is enough to store it (no guessable input to slow down). */
export function newKeySecret(): NewKeySecret {
  const secret = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { id: `key_${randomUUID().replace(/-/g, '')}`, secret, hash: hashKeySecret(secret), prefix: secret.slice(0, SHOWN_CHARS) };
}

export const hashKeySecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** 43 base64url characters after the prefix: what newKeySecret makes. Anything else is refused without a lookup. */
export const looksLikeKeySecret = (value: string) => /^oap-[A-Za-z0-9_-]{43}$/.test(value);
