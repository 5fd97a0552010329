import Database from 'better-sqlite3';

/** One row of the original Java proxy's `query` table. */
export interface OriginalQuery {
  user: string;
  model: string;
  timestamp: number;
  queryTokens: number;
  answerTokens: number;
}

export interface OriginalPrice {
  model: string;
  validFrom: number;
  per1KQuery: number;
  per1KAnswer: number;
}

export interface OriginalContents {
  queries: OriginalQuery[];
  prices: OriginalPrice[];
  rateLimits?: { type: string; maximum: number; remaining: number; reset: number }[];
}

/**
 * Writes an SQLite file laid out as the original Java proxy (Spring Boot,
 * Hibernate) left it: tables user, model, query, cost, ratelimit,
 * Hibernate's sequence tables, timestamps as epoch milliseconds. Prices are
 * written in order, so a later duplicate (model, valid_from) has the higher id.
 */
export function writeOriginalDatabase(path: string, contents: OriginalContents): void {
  const db = new Database(path);
  try {
    db.exec(`
      CREATE TABLE user (name varchar(255) not null, primary key (name));
      CREATE TABLE model (name varchar(255) not null, primary key (name));
      CREATE TABLE query (id integer, answer_tokens integer not null, query_tokens integer not null, timestamp timestamp not null,
        model_name varchar(255), user_name varchar(255), primary key (id),
        foreign key (model_name) references model, foreign key (user_name) references user);
      CREATE TABLE cost (id integer, per1kanswer_tokens float(53), per1kquery_tokens float(53), valid_from timestamp not null,
        model_name varchar(255) not null, primary key (id), foreign key (model_name) references model);
      CREATE TABLE ratelimit (type varchar(255) not null check (type in ('requests','tokens')), maximum integer, remaining integer,
        reset timestamp, primary key (type));
      CREATE TABLE query_seq (next_val bigint);
      CREATE TABLE cost_seq (next_val bigint);
    `);
    const names = (list: string[]) => [...new Set(list)];
    const addUser = db.prepare('INSERT INTO user (name) VALUES (?)');
    const addModel = db.prepare('INSERT INTO model (name) VALUES (?)');
    const addQuery = db.prepare('INSERT INTO query (id, answer_tokens, query_tokens, timestamp, model_name, user_name) VALUES (?, ?, ?, ?, ?, ?)');
    const addCost = db.prepare('INSERT INTO cost (id, per1kanswer_tokens, per1kquery_tokens, valid_from, model_name) VALUES (?, ?, ?, ?, ?)');
    const addLimit = db.prepare('INSERT INTO ratelimit (type, maximum, remaining, reset) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (const u of names(contents.queries.map((q) => q.user))) addUser.run(u);
      for (const m of names([...contents.queries.map((q) => q.model), ...contents.prices.map((p) => p.model)])) addModel.run(m);
      for (const [i, q] of contents.queries.entries()) addQuery.run(i + 1, q.answerTokens, q.queryTokens, q.timestamp, q.model, q.user);
      for (const [i, p] of contents.prices.entries()) addCost.run(i + 1, p.per1KAnswer, p.per1KQuery, p.validFrom, p.model);
      for (const r of contents.rateLimits ?? []) addLimit.run(r.type, r.maximum, r.remaining, r.reset);
      db.prepare('INSERT INTO query_seq (next_val) VALUES (?)').run(contents.queries.length + 50);
      db.prepare('INSERT INTO cost_seq (next_val) VALUES (?)').run(contents.prices.length + 50);
    })();
  } finally {
    db.close();
  }
}

/** Pricing over the original's data: the newest price strictly before the query, of the model or its undated name. */
export function originalCost(q: OriginalQuery, prices: OriginalPrice[], baseName: (m: string) => string): number {
  const pick = (model: string) => {
    let best: OriginalPrice | undefined;
    prices.forEach((p) => {
      if (p.model === model && p.validFrom < q.timestamp && (!best || p.validFrom >= best.validFrom)) best = p;
    });
    return best;
  };
  const price = pick(q.model) ?? pick(baseName(q.model));
  return price ? (q.queryTokens * price.per1KQuery + q.answerTokens * price.per1KAnswer) / 1000 : 0;
}
