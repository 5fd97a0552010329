import type { Store } from '../store/types.js';
import type { CallContext } from './call-record.js';

const BATCHES_ENDPOINT = '/v1/batches';

/**
 * Remembers the Batch API job a `POST /v1/batches` created, with its creator,
 * so the poller (batch-poller.ts) counts its results as theirs. Runs before
 * the answer's last bytes go out: a caller who holds a batch id has it
 * remembered. Other calls pass through untouched.
 */
export function batchRememberer(store: Store, firstPollAfterMs: number) {
  return async function rememberBatch(ctx: CallContext, answer: unknown): Promise<void> {
    if (ctx.endpoint !== BATCHES_ENDPOINT || !ctx.plan) return;
    const batch = answer as { id?: unknown; object?: unknown; endpoint?: unknown } | undefined;
    if (typeof batch?.id !== 'string' || batch.object !== 'batch') return;
    const endpoint = typeof batch.endpoint === 'string' ? batch.endpoint : String(ctx.plan.json.endpoint ?? '');
    await store.rememberBatch({ id: batch.id, user: ctx.user, keyId: ctx.keyId ?? null, endpoint, createdAt: ctx.arrivedAt }, ctx.arrivedAt + firstPollAfterMs);
  };
}
