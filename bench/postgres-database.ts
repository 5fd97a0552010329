import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the PostgreSQL rows are measured on, as an administrator who may CREATE DATABASE. */
const BENCH_POSTGRES_URL = process.env.OAP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function asAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL cannot be measured, in words for the skip line; undefined when it can. */
export async function postgresUnreachable(adminUrl = BENCH_POSTGRES_URL): Promise<string | undefined> {
  try {
    await asAdmin(adminUrl, (c) => c.query('SELECT 1'));
    return undefined;
  } catch (err) {
    const e = err as { message?: string; code?: string };
    return `PostgreSQL at ${new URL(adminUrl).host} is unreachable (${e.message || e.code || String(err)})`;
  }
}

/** A new, empty database with a random name; drop() removes it even while connections remain. */
export async function createBenchDatabase(adminUrl = BENCH_POSTGRES_URL): Promise<BenchDatabase> {
  // Identifiers cannot be bound as parameters; the name is ours, [a-z0-9_] only.
  const name = `oap_bench_${randomBytes(6).toString('hex')}`;
  await asAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => asAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
