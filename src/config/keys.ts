import {
  BOOLEAN,
  CALLERS,
  COUNT,
  DATABASE,
  DURATION,
  HOST,
  LOG_LEVEL,
  PATH,
  PORT,
  SECRET_OR_FILE,
  SIZE,
  TEXT,
  TIME_ZONE,
  URL_VALUE,
  WORKERS,
  type ValueKind,
} from './values.js';

export interface KeySpec {
  value: ValueKind;
  default?: unknown;
  /** For a default worked out at start-up rather than fixed here. */
  defaultText?: string;
  /** One line, printed by `--help` and in docs/settings.md (both generated from this table). */
  help: string;
  /** `value`: never printed; `url-password`: printed with the password of a URL masked. */
  secret?: 'value' | 'url-password';
}

/** Every configuration key the proxy knows. Anything else stops start-up. */
export const CONFIG_KEYS = {
  'forward.url': { value: URL_VALUE, default: 'https://api.openai.com/v1', help: 'upstream base URL; a URL ending in /chat/completions is accepted too' },
  'forward.token': {
    value: TEXT,
    help: "the OpenAI API key injected upstream; unset, callers' own Authorization headers go upstream unchanged",
    secret: 'value',
  },
  'forward.connect-timeout': { value: DURATION, default: 10_000, help: 'time to open a connection to the upstream' },
  'forward.idle-timeout': {
    value: DURATION,
    default: 900_000,
    help: 'longest silence from the upstream (before headers or between bytes); long reasoning calls need it long',
  },
  'forward.organization': {
    value: TEXT,
    help: 'OpenAI-Organization sent with every call (the organisation of the key that calls bill); unset, none is sent',
  },
  'forward.project': { value: TEXT, help: 'OpenAI-Project sent with every call (the project of the key that calls bill); unset, none is sent' },
  'forward.caller-organization': {
    value: BOOLEAN,
    default: false,
    help: "let callers' OpenAI-Organization and OpenAI-Project headers through (they choose what to bill); off, they are dropped",
  },
  'forward.streams-usage-unasked': {
    value: BOOLEAN,
    default: false,
    help: "the upstream streams usage even when not asked (OpenRouter does): don't ask for it, and pass its usage chunk on to callers",
  },
  'database.url': {
    value: DATABASE,
    default: 'openai-queries.db',
    help: 'SQLite file (also sqlite:, file:, jdbc:sqlite:), or postgres://user:password@host:5432/db',
    secret: 'url-password',
  },
  'database.pool-size': {
    value: COUNT,
    default: 10,
    help: "PostgreSQL connections per instance (or worker), besides the 2 that record calls: instances x (pool size + 2) must stay below the server's max_connections",
  },
  'journal.path': {
    value: PATH,
    defaultText: 'beside the SQLite file, else openai-queries.journal',
    help: 'local file for calls the database could not take, replayed when it can',
  },
  'server.port': { value: PORT, default: 8080, help: 'TCP port' },
  'server.host': { value: HOST, default: '127.0.0.1', help: 'listen address; anything but a loopback address serves beyond this machine' },
  'server.body-limit': {
    value: SIZE,
    default: 64 * 1024 ** 2,
    help: 'largest JSON request body (413 above); multipart uploads are streamed and not held to it',
  },
  'server.shutdown-grace': { value: DURATION, default: 30_000, help: 'how long calls in flight may finish after SIGTERM' },
  'server.workers': {
    value: WORKERS,
    default: 1,
    help: 'processes sharing the listener, each with its own journal (journal.path + .worker-N); auto: one per core',
  },
  'prices.catalog': { value: BOOLEAN, default: true, help: 'price models from the bundled catalog (@pydantic/genai-prices) wherever no admin price applies' },
  'prices.file': { value: PATH, help: "a YAML or JSON price table read at start-up; its models replace the catalog's" },
  'batches.poll-interval': {
    value: DURATION,
    default: 30_000,
    help: 'how often Batch API jobs created through the proxy are looked at; a running job is polled at twice the wait each time, up to 64 times this',
  },
  'admin.token': {
    value: SECRET_OR_FILE,
    help: 'bearer token every admin route needs (all but /v1/* and /health); or the path of a file holding it',
    secret: 'value',
  },
  'admin.open': { value: BOOLEAN, default: false, help: 'accept an open admin API (no admin.token) while listening beyond this machine' },
  'auth.callers': { value: CALLERS, default: 'header', help: 'who may call: header (x-user names the user), keys (a key of the proxy is required), either' },
  'budgets.timezone': { value: TIME_ZONE, default: 'UTC', help: 'where the days, weeks and months of budgets begin (an IANA zone)' },
  'budgets.default-output-tokens': {
    value: COUNT,
    default: 4096,
    help: 'answer tokens a call under a budget or tpm limit reserves when it sets no max_*tokens',
  },
  'metrics.enabled': { value: BOOLEAN, default: true, help: 'serve Prometheus metrics at GET /metrics (false: no counting on the hot path either)' },
  'metrics.user-label': {
    value: BOOLEAN,
    default: false,
    help: 'add a user label to the call, token and cost counters (one series per user, so only for a small number of users)',
  },
  'log.level': { value: LOG_LEVEL, default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** FORWARD_TOKEN for forward.token: upper case, dots and dashes as underscores. */
export const envNameOf = (key: string) => key.toUpperCase().replace(/[.-]/g, '_');

/** Keys of the original Java proxy that mean one of ours. */
export const KEY_ALIASES: Record<string, ConfigKey> = { 'spring.datasource.url': 'database.url' };
