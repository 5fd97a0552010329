/**
 * Advisory lock keys, in the two-int form (class, object) so they cannot
 * collide with single-bigint locks other applications on the same database
 * may take. The class numbers are arbitrary but fixed: every instance, old or
 * new, must use the same ones.
 */
export const MIGRATION_LOCK: [number, number] = [0x0a9_7001, 0];

/** Class of the per-model pricing locks; the object is hashtext(model name). */
export const MODEL_LOCK_CLASS = 0x0a9_7002;

/**
 * Class of the re-pricing locks; the object is hashtext(base model name). Re-pricing statements of one base model
 * (its own and its snapshots' prices touch the same rows) take it exclusively, so they never interleave.
 */
const REPRICE_LOCK_CLASS = 0x0a9_7003;

/** Class of the session locks an instance holds while it works a re-price intent; the object is the intent's id. */
export const INTENT_LOCK_CLASS = 0x0a9_7004;

/**
 * Lock statements for pricing. Inserts take the models' locks shared (inserts
 * of one model don't wait for each other); storing a price takes its model's
 * lock exclusively, which waits for the inserts in flight and makes every
 * later insert read the new price. Either way the lock is taken in a statement of its own, before
 * the statement that reads prices, because under READ COMMITTED a statement
 * sees the database as it was when the statement began, not when its lock was
 * granted. Keys are taken in sorted order so two transactions locking several
 * models cannot deadlock.
 */
export const lockModelsSql = (mode: 'shared' | 'exclusive', modelsArray: string, verb = 'SELECT') =>
  `${verb} ${mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'}(${MODEL_LOCK_CLASS}, k)
  FROM (SELECT DISTINCT hashtext(m) AS k FROM unnest(${modelsArray}) AS m ORDER BY 1) keys`;

export const LOCK_MODELS_SHARED = lockModelsSql('shared', '@models::text[]');

export const LOCK_MODELS_EXCLUSIVE = lockModelsSql('exclusive', '@models::text[]');

export const LOCK_REPRICE = `SELECT pg_advisory_xact_lock(${REPRICE_LOCK_CLASS}, k)
  FROM (SELECT DISTINCT hashtext(m) AS k FROM unnest(@models::text[]) AS m ORDER BY 1) keys`;
