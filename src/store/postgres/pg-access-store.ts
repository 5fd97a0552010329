import type pg from 'pg';
import { inTransaction, runNamed } from './statements.js';
import { accessSql } from '../access/access-sql.js';
import { budgetFromRow, keyFromRow, keyParams, keyWithSpendFromRow, limitFromRow, stateOf } from '../access/access-rows.js';
import { admissionSteps, budgetSpend, lockOrder, settlementSteps, type Rows, type Steps } from '../access/admission-steps.js';
import type {
  AccessPolicies,
  AccessStore,
  AdmissionRequest,
  AdmissionResult,
  ApiKey,
  Budget,
  BudgetCheck,
  BudgetState,
  Hold,
  KeyWithSpend,
  NewApiKey,
  RateLimit,
  Subject,
} from '../access-types.js';

const SQL = accessSql((name, type) => `@${name}::${type}`);

/** Class of the per-subject admission locks; the object is hashtext('scope:subject'). Fixed, like the other lock classes. */
const SUBJECT_LOCK_CLASS = 0x0a9_7003;
const LOCK_SUBJECTS = `SELECT pg_advisory_xact_lock(${SUBJECT_LOCK_CLASS}, k)
  FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest(@subjects::text[]) AS s ORDER BY 1) keys`;

/**
 * Keys, budgets and rate limits on the ledger's PostgreSQL pool. Each
 * admission is one transaction that first takes an advisory lock per budget
 * and limit it touches, in sorted order: admissions of the same subjects,
 * from any instance, run one after another, while admissions of unrelated
 * users do not wait for each other.
 */
export class PostgresAccessStore implements AccessStore {
  constructor(private readonly pool: pg.Pool) {}

  private async rows(sql: string, params: Record<string, unknown> = {}): Promise<Rows> {
    return (await runNamed(this.pool, sql, params)).rows;
  }

  private async runSteps<T>(client: pg.ClientBase, steps: Steps<T>): Promise<T> {
    let next = steps.next(undefined as unknown as Rows);
    while (!next.done) {
      const { rows } = await runNamed(client, next.value.sql, next.value.params);
      next = steps.next(rows);
    }
    return next.value;
  }

  private lockedSteps<T>(subjects: string[], steps: () => Steps<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      if (subjects.length > 0) await runNamed(client, LOCK_SUBJECTS, { subjects });
      return this.runSteps(client, steps());
    });
  }

  async createKey(key: NewApiKey): Promise<void> {
    await this.rows(SQL.insertKey, keyParams(key));
  }

  async findKeyByHash(hash: string): Promise<ApiKey | undefined> {
    const [row] = await this.rows(SQL.findKeyByHash, { hash });
    return row && keyFromRow(row);
  }

  async getKey(id: string): Promise<KeyWithSpend | undefined> {
    const [row] = await this.rows(SQL.getKey, { id });
    return row && keyWithSpendFromRow(row);
  }

  async listKeys({ user }: { user?: string }): Promise<KeyWithSpend[]> {
    const rows = user === undefined ? await this.rows(SQL.listKeys) : await this.rows(SQL.listUserKeys, { user });
    return rows.map(keyWithSpendFromRow);
  }

  async revokeKey(id: string, at: number): Promise<KeyWithSpend | undefined> {
    await this.rows(SQL.revokeKey, { id, at });
    return this.getKey(id);
  }

  async policies(): Promise<AccessPolicies> {
    const [budgets, limits] = await Promise.all([this.rows(SQL.budgets), this.rows(SQL.limits)]);
    return { budgets: budgets.map(budgetFromRow), limits: limits.map(limitFromRow) };
  }

  async putBudget(budget: Budget): Promise<void> {
    await this.lockedSteps(lockOrder({ budgets: [budget], limits: [] }), function* () {
      yield { sql: SQL.putBudget, params: { scope: budget.scope, subject: budget.subject, usd: budget.usd, period: budget.period } };
      yield { sql: SQL.forgetSpend, params: { scope: budget.scope, subject: budget.subject } };
    });
  }

  async deleteBudget(s: Subject): Promise<boolean> {
    return this.lockedSteps(lockOrder({ budgets: [s], limits: [] }), function* () {
      const removed = yield { sql: `${SQL.deleteBudget} RETURNING scope`, params: { scope: s.scope, subject: s.subject }, rows: true };
      yield { sql: SQL.forgetSpend, params: { scope: s.scope, subject: s.subject } };
      return removed.length > 0;
    });
  }

  async budgetStates(checks: BudgetCheck[], now: number): Promise<BudgetState[]> {
    const states: BudgetState[] = [];
    for (const check of checks) {
      const spend = await this.lockedSteps(lockOrder({ budgets: [check], limits: [] }), () => budgetSpend(SQL, check, now));
      states.push({ ...spend, ...stateOf(check) });
    }
    return states;
  }

  async putLimit(limit: RateLimit): Promise<void> {
    await this.rows(SQL.putLimit, { scope: limit.scope, subject: limit.subject, rpm: limit.rpm ?? null, tpm: limit.tpm ?? null });
  }

  async deleteLimit(s: Subject): Promise<boolean> {
    return (await this.rows(`${SQL.deleteLimit} RETURNING scope`, { scope: s.scope, subject: s.subject })).length > 0;
  }

  admit(request: AdmissionRequest): Promise<AdmissionResult> {
    return this.lockedSteps(lockOrder(request), () => admissionSteps(SQL, request));
  }

  async settle(hold: Hold, actual: { usd: number; tokens: number }): Promise<void> {
    await this.lockedSteps(lockOrder({ budgets: hold.budgets, limits: hold.limits }), () => settlementSteps(SQL, hold, actual));
  }
}
