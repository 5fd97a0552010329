import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the PostgreSQL tests use, as an administrator who may CREATE DATABASE. */
export const POSTGRES_ADMIN_URL = process.env.OAP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface PostgresProbe {
  reachable: boolean;
  /** Why not, in words for the skip line. */
  reason: string;
}

export async function probePostgres(adminUrl = POSTGRES_ADMIN_URL): Promise<PostgresProbe> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { reachable: true, reason: '' };
  } catch (err) {
    return {
      reachable: false,
      reason: `PostgreSQL at ${new URL(adminUrl).host} is unreachable (${(err as Error).message || (err as { code?: string }).code})`,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function asAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database with a random name; drop() removes it even while connections remain. */
export async function createTestDatabase(): Promise<TestDatabase> {
  // Identifiers cannot be bound as parameters; the name is ours, [a-z0-9_] only.
  const name = `oap_test_${randomBytes(6).toString('hex')}`;
  await asAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => asAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
