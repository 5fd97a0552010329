import type { IncomingHttpHeaders } from 'node:http';
import type { CallerMode } from '../config/values.js';
import { ApiError } from '../http/errors.js';
import { hashKeySecret, KEY_PREFIX, looksLikeKeySecret } from '../store/access/key-secret.js';
import type { AccessStore, ApiKey } from '../store/access-types.js';
import { requireCallerUser } from './caller-user.js';
import { FreshCache } from './fresh-cache.js';

/** Whom a call is made for: the user a key names, or (without a key) the x-user header's. */
export interface Caller {
  user: string;
  key?: ApiKey;
}

/**
 * Decides who a call is for, before anything is forwarded. A key is looked up
 * by the hash of its secret, and remembered for under a second: a key revoked
 * through any instance is refused by every instance within a second.
 */
export class CallerAccess {
  private readonly keys: FreshCache<string, ApiKey | undefined>;

  constructor(
    private readonly mode: CallerMode,
    private readonly store: Pick<AccessStore, 'findKeyByHash'>,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new FreshCache({ refreshMs: 400, maxAgeMs: 900, maxEntries: 10_000, now });
  }

  async identify(headers: IncomingHttpHeaders): Promise<Caller> {
    const secret = this.mode === 'header' ? undefined : bearerKey(headers.authorization);
    if (secret === undefined) {
      if (this.mode === 'keys') {
        throw new ApiError(401, 'missing_api_key', `this proxy needs a key: send Authorization: Bearer ${KEY_PREFIX}... (ask its administrator for one)`);
      }
      return { user: requireCallerUser(headers['x-user']) };
    }
    const key = await this.validKey(secret);
    // A key decides the user; an x-user that names someone else is a mistake worth saying, not something to ignore.
    const claimed = headers['x-user'];
    if (claimed !== undefined && requireCallerUser(claimed) !== key.user) {
      throw new ApiError(400, 'user_mismatch', "the x-user header names a different user than the key's; leave x-user out when calling with a key");
    }
    return { user: key.user, key };
  }

  /** 403 for a model the key may not call. A multipart upload names its model only inside the upload, too late to refuse it. */
  checkModel(caller: Caller, model: string | null, modelUnreadable: boolean): void {
    const key = caller.key;
    const allowed = key?.models;
    if (!key || !allowed) return;
    if (modelUnreadable) {
      throw new ApiError(
        403,
        'model_not_allowed',
        `key ${key.id} may call only ${allowed.join(', ')}; it cannot make uploads, whose model is read only while forwarding`,
      );
    }
    if (model !== null && !allowed.includes(model)) {
      throw new ApiError(403, 'model_not_allowed', `key ${key.id} may not call model '${model}'; it may call ${allowed.join(', ')}`);
    }
  }

  private async validKey(secret: string): Promise<ApiKey> {
    const unknown = new ApiError(401, 'invalid_api_key', `the key ${shown(secret)} is not a key of this proxy`);
    if (!looksLikeKeySecret(secret)) throw unknown;
    const hash = hashKeySecret(secret);
    const key = await this.keys
      .get(hash, () => this.store.findKeyByHash(hash))
      .catch((err) => {
        throw accessUnavailable(err);
      });
    if (!key) throw unknown;
    if (key.revokedAt !== null) throw new ApiError(401, 'key_revoked', `the key ${key.prefix}... (${key.id}) was revoked`);
    if (key.expiresAt !== null && key.expiresAt <= this.now()) {
      throw new ApiError(401, 'key_expired', `the key ${key.prefix}... (${key.id}) expired at ${new Date(key.expiresAt).toISOString()}`);
    }
    return key;
  }
}

/** The proxy's own key from `Authorization: Bearer oap-...`; anything else (an upstream key, no header) is not one. */
function bearerKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  return token?.startsWith(KEY_PREFIX) ? token : undefined;
}

/** A key that cannot be checked is refused, never let through unchecked. */
export function accessUnavailable(err: unknown): ApiError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiError(
    503,
    'access_unavailable',
    `the proxy cannot check keys, budgets and rate limits right now (${detail}); nothing was forwarded`,
    undefined,
    {
      'retry-after': '5',
    },
  );
}

/** Enough of a wrong key to recognise it, never all of a secret. */
const shown = (secret: string) => `${secret.slice(0, 8)}...`;
