import type Database from 'better-sqlite3';
import { accessSql } from '../access/access-sql.js';
import { admissionSteps, budgetSpend, settlementSteps, type Rows, type Steps } from '../access/admission-steps.js';
import { budgetFromRow, keyFromRow, keyParams, keyWithSpendFromRow, limitFromRow, stateOf } from '../access/access-rows.js';
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

const SQL = accessSql((name) => `@${name}`);

/** An admission or a settlement waiting for the next write transaction. */
interface PendingSteps {
  steps: () => Steps<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Keys, budgets and rate limits on the ledger's own SQLite connection.
 * Admissions and settlements run inside BEGIN IMMEDIATE transactions, which
 * SQLite runs one at a time across every process that has the file open, so
 * two processes cannot both take the last of a budget. Those asked for in the
 * same turn of the event loop share one transaction, each still checking what
 * the ones before it reserved: a commit per call cost more than the checks.
 * better-sqlite3 is synchronous: nothing else on the connection runs in the
 * middle of a transaction.
 */
export class SqliteAccessStore implements AccessStore {
  private readonly statements = new Map<string, Database.Statement>();
  private pending: PendingSteps[] = [];

  constructor(private readonly db: Database.Database) {}

  /** Queues steps for the next shared transaction; resolves once it has committed. */
  private inNextTransaction<T>(steps: () => Steps<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.runPending());
      this.pending.push({ steps, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  private runPending(): void {
    const batch = this.pending;
    this.pending = [];
    let results: unknown[];
    try {
      results = this.db.transaction(() => batch.map((p) => this.runGenerated(p.steps()))).immediate();
    } catch {
      // One failed (or the database did): each on its own, so one bad request cannot fail the others.
      for (const p of batch) {
        try {
          p.resolve(this.runSteps(p.steps));
        } catch (err) {
          p.reject(err);
        }
      }
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i]);
  }

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Runs generated steps synchronously in one write transaction, taken before the first read. */
  private runSteps<T>(steps: () => Steps<T>): T {
    return this.db.transaction(() => this.runGenerated(steps())).immediate();
  }

  private runGenerated<T>(gen: Steps<T>): T {
    let next = gen.next(undefined as unknown as Rows);
    while (!next.done) {
      const step = next.value;
      const params = bindable(step.params);
      let rows: Rows = [];
      if (step.rows) rows = this.statement(step.sql).all(params) as Rows;
      else this.statement(step.sql).run(params);
      next = gen.next(rows);
    }
    return next.value;
  }

  async createKey(key: NewApiKey): Promise<void> {
    this.statement(SQL.insertKey).run(keyParams(key));
  }

  async findKeyByHash(hash: string): Promise<ApiKey | undefined> {
    const row = this.statement(SQL.findKeyByHash).get({ hash }) as Record<string, unknown> | undefined;
    return row && keyFromRow(row);
  }

  async getKey(id: string): Promise<KeyWithSpend | undefined> {
    const row = this.statement(SQL.getKey).get({ id }) as Record<string, unknown> | undefined;
    return row && keyWithSpendFromRow(row);
  }

  async listKeys({ user }: { user?: string }): Promise<KeyWithSpend[]> {
    const rows = (user === undefined ? this.statement(SQL.listKeys).all() : this.statement(SQL.listUserKeys).all({ user })) as Record<string, unknown>[];
    return rows.map(keyWithSpendFromRow);
  }

  async revokeKey(id: string, at: number): Promise<KeyWithSpend | undefined> {
    this.statement(SQL.revokeKey).run({ id, at });
    return this.getKey(id);
  }

  async policies(): Promise<AccessPolicies> {
    const budgets = (this.statement(SQL.budgets).all() as Record<string, unknown>[]).map(budgetFromRow);
    const limits = (this.statement(SQL.limits).all() as Record<string, unknown>[]).map(limitFromRow);
    return { budgets, limits };
  }

  async putBudget(budget: Budget): Promise<void> {
    this.db
      .transaction(() => {
        this.statement(SQL.putBudget).run({ scope: budget.scope, subject: budget.subject, usd: budget.usd, period: budget.period });
        this.statement(SQL.forgetSpend).run({ scope: budget.scope, subject: budget.subject });
      })
      .immediate();
  }

  async deleteBudget(s: Subject): Promise<boolean> {
    return this.db
      .transaction(() => {
        const removed = this.statement(SQL.deleteBudget).run({ scope: s.scope, subject: s.subject }).changes > 0;
        this.statement(SQL.forgetSpend).run({ scope: s.scope, subject: s.subject });
        return removed;
      })
      .immediate();
  }

  async budgetStates(checks: BudgetCheck[], now: number): Promise<BudgetState[]> {
    return checks.map((check) => ({ ...this.runSteps(() => budgetSpend(SQL, check, now)), ...stateOf(check) }));
  }

  async putLimit(limit: RateLimit): Promise<void> {
    this.statement(SQL.putLimit).run({ scope: limit.scope, subject: limit.subject, rpm: limit.rpm ?? null, tpm: limit.tpm ?? null });
  }

  async deleteLimit(s: Subject): Promise<boolean> {
    return this.statement(SQL.deleteLimit).run({ scope: s.scope, subject: s.subject }).changes > 0;
  }

  async admit(request: AdmissionRequest): Promise<AdmissionResult> {
    return this.inNextTransaction(() => admissionSteps(SQL, request));
  }

  async settle(hold: Hold, actual: { usd: number; tokens: number }): Promise<void> {
    await this.inNextTransaction(() => settlementSteps(SQL, hold, actual));
  }
}

/** better-sqlite3 binds numbers and strings; booleans and undefined are not SQL values. */
function bindable(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = v === undefined ? null : v;
  return out;
}
