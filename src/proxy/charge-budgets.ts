import type { Logger } from 'pino';
import { errorText } from '../common/error-text.js';

/** Adds a cost recorded without an admission to the budgets it falls under. */
export type ChargeBudgets = (payer: { user: string; keyId: string | null }, at: number, usd: number) => Promise<void>;

/** A budget count that cannot be updated must not lose the recorded row: it is said, and the count catches up when restarted. */
export async function chargeOrWarn(
  o: { chargeBudgets?: ChargeBudgets; log: Logger },
  payer: { user: string; keyId: string | null },
  at: number,
  usd: number,
): Promise<void> {
  await o.chargeBudgets?.(payer, at, usd).catch((err) => o.log.warn({ err: errorText(err), user: payer.user }, 'could not add a recorded cost to its budgets'));
}
