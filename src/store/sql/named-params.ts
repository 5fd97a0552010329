/**
 * The shared SQL names its parameters `@name` (better-sqlite3's style);
 * PostgreSQL numbers them `$1`. One name used twice gets one number. SQL text
 * handed here must not contain `@word` inside string literals.
 */
export interface PositionalSql {
  text: string;
  /** Parameter names in `$n` order. */
  names: string[];
}

const NAMED_PARAMETER = /@([A-Za-z_][A-Za-z0-9_]*)/g;

export function toPositional(sql: string): PositionalSql {
  const names: string[] = [];
  const text = sql.replace(NAMED_PARAMETER, (_match, name: string) => {
    let index = names.indexOf(name);
    if (index === -1) index = names.push(name) - 1;
    return `$${index + 1}`;
  });
  return { text, names };
}

/** Values in `$n` order; a missing name is a programming error, caught here rather than as a NULL in the database. */
export function bindPositional(sql: PositionalSql, params: Record<string, unknown>): unknown[] {
  return sql.names.map((name) => {
    if (!(name in params)) throw new Error(`SQL parameter @${name} has no value`);
    const value = params[name];
    return value === undefined ? null : value;
  });
}
