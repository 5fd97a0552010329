import { parseBoolean, parseDurationMs, parseHttpUrl, parseLogLevel, parseNonEmptyString, parsePort, parsePositiveInteger, parseSizeBytes } from './values.js';

export interface KeySpec {
  parse: (raw: unknown) => unknown;
  default?: unknown;
  /** Shown in `--help` and kept in step with the README's settings table. */
  help: string;
  secret?: boolean;
}

/** Every configuration key the proxy knows. Anything else stops start-up. */
export const CONFIG_KEYS = {
  'forward.url': { parse: parseHttpUrl, default: 'https://api.openai.com/v1', help: 'upstream base URL; a URL ending in /chat/completions is accepted too' },
  'forward.token': { parse: parseNonEmptyString, help: 'the OpenAI API key injected upstream', secret: true },
  'forward.connect-timeout': { parse: parseDurationMs, default: 10_000, help: 'time to open a connection to the upstream' },
  'forward.idle-timeout': { parse: parseDurationMs, default: 900_000, help: 'longest silence from the upstream (before headers or between bytes)' },
  'database.url': { parse: parseNonEmptyString, default: 'openai-queries.db', help: 'SQLite file (also sqlite:, file:, jdbc:sqlite:), or postgres://user:password@host:5432/db', secret: true },
  'database.pool-size': { parse: parsePositiveInteger, default: 10, help: 'PostgreSQL connections per instance (instances x pool size must stay below the server\'s max_connections)' },
  'journal.path': { parse: parseNonEmptyString, help: 'local file for calls the database could not take, replayed when it can (default: beside the SQLite file, else openai-queries.journal)' },
  'server.port': { parse: parsePort, default: 8080, help: 'TCP port' },
  'server.host': { parse: parseNonEmptyString, default: '127.0.0.1', help: 'listen address' },
  'server.body-limit': { parse: parseSizeBytes, default: 64 * 1024 ** 2, help: 'largest JSON request body; multipart uploads are streamed and not held to it' },
  'server.shutdown-grace': { parse: parseDurationMs, default: 30_000, help: 'how long calls in flight may finish after SIGTERM' },
  'prices.catalog': { parse: parseBoolean, default: true, help: 'price models from the bundled catalog (@pydantic/genai-prices) wherever no admin price applies' },
  'prices.file': { parse: parseNonEmptyString, help: 'a YAML or JSON price table read at start-up; its models replace the catalog\'s' },
  'log.level': { parse: parseLogLevel, default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** FORWARD_TOKEN for forward.token: upper case, dots and dashes as underscores. */
export const envNameOf = (key: string) => key.toUpperCase().replace(/[.-]/g, '_');

/** Keys of the original Java proxy that mean one of ours. */
export const KEY_ALIASES: Record<string, ConfigKey> = { 'spring.datasource.url': 'database.url' };
