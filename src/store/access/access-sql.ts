import { unitCostSql, type CostColumn, type CostInputs } from '../sql/pricing-sql.js';
import type { Scope } from '../access-types.js';

/** How a dialect writes a typed parameter: `@name` for SQLite, `@name::type` for PostgreSQL. */
export type Param = (name: string, type: string) => string;

const KEY_COLUMNS = 'id, user_name, name, prefix, created_at, expires_at, revoked_at, models';
const SUBJECT = 'scope = @scope AND subject = @subject';

/** The calls a budget counts, as a condition on the queries table. */
const SCOPE_CONDITION: Record<Scope, string> = { global: 'true', user: 'user_name = @subject', key: 'key_id = @subject' };

/** Every statement of the access store, in one dialect. */
export function accessSql(p: Param) {
  const keyWithSpend = `SELECT ${KEY_COLUMNS},
      COALESCE((SELECT SUM(q.cost) FROM queries q WHERE q.key_id = api_keys.id), 0) AS spent
    FROM api_keys`;
  return {
    insertKey: `INSERT INTO api_keys (id, secret_hash, prefix, user_name, name, created_at, expires_at, models)
      VALUES (@id, @secretHash, @prefix, @user, @name, @createdAt, @expiresAt, @models)`,
    findKeyByHash: `SELECT ${KEY_COLUMNS} FROM api_keys WHERE secret_hash = @hash`,
    getKey: `${keyWithSpend} WHERE id = @id`,
    listKeys: `${keyWithSpend} ORDER BY created_at, id`,
    listUserKeys: `${keyWithSpend} WHERE user_name = @user ORDER BY created_at, id`,
    revokeKey: `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ${p('at', 'bigint')}) WHERE id = @id`,

    budgets: 'SELECT scope, subject, usd, period FROM budgets',
    limits: 'SELECT scope, subject, rpm, tpm FROM caller_limits',
    putBudget: `INSERT INTO budgets (scope, subject, usd, period) VALUES (@scope, @subject, @usd, @period)
      ON CONFLICT (scope, subject) DO UPDATE SET usd = excluded.usd, period = excluded.period`,
    deleteBudget: `DELETE FROM budgets WHERE ${SUBJECT}`,
    /** A budget put or removed starts counting afresh from the recorded calls. */
    forgetSpend: `DELETE FROM budget_spend WHERE ${SUBJECT}`,
    putLimit: `INSERT INTO caller_limits (scope, subject, rpm, tpm) VALUES (@scope, @subject, @rpm, @tpm)
      ON CONFLICT (scope, subject) DO UPDATE SET rpm = excluded.rpm, tpm = excluded.tpm`,
    deleteLimit: `DELETE FROM caller_limits WHERE ${SUBJECT}`,

    /**
     * What a call can cost at most, priced as its row will be: all its tokens as text at the default tier (the tier
     * is known only from the answer; the call settles to its row's exact cost, tier and token kinds included).
     */
    reservationCost: `SELECT ${unitCostSql(reservationInputs(p))} AS usd`,
    /** The period's counter, started from what was recorded in it before the budget was first checked in it. */
    startSpend: (scope: Scope) => `INSERT INTO budget_spend (scope, subject, period_start, period_end, spent)
      SELECT @scope, @subject, ${p('start', 'bigint')}, ${p('end', 'bigint')}, COALESCE(SUM(cost), 0) FROM queries
      WHERE ts >= @start AND ts < @end AND ${SCOPE_CONDITION[scope]}
      ON CONFLICT (scope, subject, period_start, period_end) DO NOTHING`,
    /** The period's spend, what calls in flight hold, and whether holds of a dead instance wait to be purged: one read. */
    spend: `SELECT spent,
        (SELECT COALESCE(SUM(usd), 0) FROM budget_holds h WHERE h.scope = @scope AND h.subject = @subject
           AND h.period_start = @start AND h.expires_at > ${p('now', 'bigint')}) AS reserved,
        (SELECT COUNT(*) FROM budget_holds h WHERE h.scope = @scope AND h.subject = @subject AND h.expires_at <= @now) AS lapsed
      FROM budget_spend WHERE ${SUBJECT} AND period_start = ${p('start', 'bigint')} AND period_end = @end`,
    purgeLapsedHolds: `DELETE FROM budget_holds WHERE ${SUBJECT} AND expires_at <= ${p('now', 'bigint')}`,
    insertHold: `INSERT INTO budget_holds (hold_id, scope, subject, period_start, usd, expires_at)
      VALUES (@holdId, @scope, @subject, @start, @usd, @expiresAt)`,
    releaseHold: 'DELETE FROM budget_holds WHERE hold_id = @holdId',
    charge: `UPDATE budget_spend SET spent = spent + ${p('usd', 'float8')}
      WHERE ${SUBJECT} AND period_start = @start AND period_end = @end`,

    /** Every window kept for the subject: this minute's, the last, and older ones only until purged. */
    windows: `SELECT window_start, requests, tokens FROM rate_windows WHERE ${SUBJECT}`,
    purgeOldWindows: `DELETE FROM rate_windows WHERE ${SUBJECT} AND window_start < ${p('previous', 'bigint')}`,
    countInWindow: `INSERT INTO rate_windows (scope, subject, window_start, requests, tokens) VALUES (@scope, @subject, @window, 1, @tokens)
      ON CONFLICT (scope, subject, window_start) DO UPDATE SET requests = rate_windows.requests + 1, tokens = rate_windows.tokens + excluded.tokens`,
    correctTokens: `UPDATE rate_windows SET tokens = tokens + ${p('delta', 'bigint')} WHERE ${SUBJECT} AND window_start = @window`,
  };
}

export type AccessSql = ReturnType<typeof accessSql>;

/** A call about to be forwarded as cost inputs: its prompt and its most output, as text tokens, at the default tier. */
function reservationInputs(p: Param): CostInputs {
  const given: Partial<Record<CostColumn, string>> = {
    model: p('model', 'text'),
    base_model: p('baseModel', 'text'),
    ft_base_model: p('ftBaseModel', 'text'),
    service_tier: 'NULL',
    ts: p('at', 'bigint'),
    prompt_tokens: p('promptTokens', 'bigint'),
    completion_tokens: p('outputTokens', 'bigint'),
  };
  return (column) => given[column] ?? '0';
}
