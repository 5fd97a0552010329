import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorText } from '../common/error-text.js';
import { CONFIG_KEYS, KEY_ALIASES, envNameOf, type ConfigKey, type KeySpec } from './keys.js';
import type { CallerMode } from './values.js';
import { withoutSecret } from './shown-value.js';

export interface Config {
  forward: {
    url: string;
    token?: string;
    connectTimeoutMs: number;
    idleTimeoutMs: number;
    organization?: string;
    project?: string;
    callerOrganization: boolean;
    streamsUsageUnasked: boolean;
  };
  database: { url: string; poolSize: number };
  /** Unset: derived from database.url (see store/journal/journal-path.ts). */
  journal: { path?: string };
  server: { port: number; host: string; bodyLimitBytes: number; shutdownGraceMs: number; workers: number | 'auto' };
  log: { level: string };
  /** `file` is an absolute path, resolved against the working directory. */
  prices: { catalog: boolean; file?: string };
  batches: { pollIntervalMs: number };
  /** `token` unset: the admin API is open. */
  admin: { token?: string; open: boolean };
  auth: { callers: CallerMode };
  budgets: { timeZone: string; defaultOutputTokens: number };
  metrics: { enabled: boolean; userLabel: boolean };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  cwd?: string;
  env?: Record<string, string | undefined>;
  argv?: string[];
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

type RawValues = Map<string, { value: unknown; source: string }>;

/** defaults < application.yaml (working directory) < environment < --key=value flags. */
export function loadConfig({ cwd = process.cwd(), env = process.env, argv = [] }: ConfigSources = {}): LoadedConfig {
  const warnings: string[] = [];
  const merged: RawValues = new Map();
  for (const layer of [fromYaml(cwd), fromEnv(env), fromArgv(argv)]) {
    for (const [key, entry] of normaliseLayer(layer, warnings)) merged.set(key, entry);
  }
  const value = <K extends ConfigKey>(key: K): ParsedValue<K> => {
    const entry = merged.get(key);
    const spec: KeySpec = CONFIG_KEYS[key];
    if (!entry) return spec.default as ParsedValue<K>;
    try {
      return spec.value.parse(entry.value) as ParsedValue<K>;
    } catch (err) {
      const reason = withoutSecret(spec, entry.value, errorText(err));
      throw new ConfigError(`invalid value for ${key} (from ${entry.source}): ${reason}`);
    }
  };
  const config: Config = {
    forward: {
      url: value('forward.url'),
      token: value('forward.token'),
      connectTimeoutMs: value('forward.connect-timeout'),
      idleTimeoutMs: value('forward.idle-timeout'),
      organization: value('forward.organization'),
      project: value('forward.project'),
      callerOrganization: value('forward.caller-organization'),
      streamsUsageUnasked: value('forward.streams-usage-unasked'),
    },
    database: { url: value('database.url'), poolSize: value('database.pool-size') },
    journal: { path: value('journal.path') },
    server: {
      port: value('server.port'),
      host: value('server.host'),
      bodyLimitBytes: value('server.body-limit'),
      shutdownGraceMs: value('server.shutdown-grace'),
      workers: value('server.workers'),
    },
    log: { level: value('log.level') },
    prices: { catalog: value('prices.catalog'), file: optionalPath(value('prices.file'), cwd) },
    batches: { pollIntervalMs: value('batches.poll-interval') },
    admin: { token: value('admin.token'), open: value('admin.open') },
    auth: { callers: value('auth.callers') },
    budgets: { timeZone: value('budgets.timezone'), defaultOutputTokens: value('budgets.default-output-tokens') },
    metrics: { enabled: value('metrics.enabled'), userLabel: value('metrics.user-label') },
  };
  return { config, warnings };
}

/** What a key's parser yields (its default has the same type). */
type ParsedValue<K extends ConfigKey> = ReturnType<(typeof CONFIG_KEYS)[K]['value']['parse']>;

const optionalPath = (path: string | undefined, cwd: string) => (path === undefined ? undefined : resolve(cwd, path));

interface Layer {
  source: string;
  entries: [string, unknown][];
  /** Environment variables cannot be told apart from unrelated ones, so only known names are read. */
  strict: boolean;
}

/** Resolves aliases and rejects unknown keys; within one layer the real key wins over its alias. */
function normaliseLayer(layer: Layer, warnings: string[]): RawValues {
  const out: RawValues = new Map();
  const fromAlias = new Map<string, string>();
  for (const [rawKey, value] of layer.entries) {
    const key = rawKey.toLowerCase();
    if (key in CONFIG_KEYS) {
      if (fromAlias.has(key)) {
        warnings.push(`${layer.source}: both ${key} and ${fromAlias.get(key)} are set; using ${key}`);
        fromAlias.delete(key);
      }
      out.set(key, { value, source: layer.source });
    } else if (key in KEY_ALIASES) {
      const target = KEY_ALIASES[key];
      if (out.has(target) && !fromAlias.has(target)) {
        warnings.push(`${layer.source}: both ${target} and ${key} are set; using ${target}`);
        continue;
      }
      fromAlias.set(target, key);
      out.set(target, { value, source: layer.source });
    } else if (key.startsWith('spring.')) {
      warnings.push(`${layer.source}: ${key} is a setting of the original Java proxy and is ignored`);
    } else if (layer.strict) {
      throw new ConfigError(`unknown configuration key '${rawKey}' (from ${layer.source}); known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`);
    }
  }
  return out;
}

function fromYaml(cwd: string): Layer {
  const path = join(cwd, 'application.yaml');
  const alt = join(cwd, 'application.yml');
  const file = existsSync(path) ? path : existsSync(alt) ? alt : undefined;
  if (!file) return { source: 'application.yaml', entries: [], strict: true };
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${errorText(err)}`);
  }
  if (doc === null || doc === undefined) return { source: file, entries: [], strict: true };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${file} must hold a mapping of settings`);
  return { source: file, entries: flatten(doc as Record<string, unknown>), strict: true };
}

/** `forward: {url: x}` and `forward.url: x` both become `forward.url`. */
function flatten(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, `${key}.`));
    else out.push([key, v]);
  }
  return out;
}

function fromEnv(env: Record<string, string | undefined>): Layer {
  const entries: [string, unknown][] = [];
  for (const key of [...Object.keys(CONFIG_KEYS), ...Object.keys(KEY_ALIASES)]) {
    const value = env[envNameOf(key)];
    if (value !== undefined) entries.push([key, value]);
  }
  return { source: 'environment', entries, strict: false };
}

function fromArgv(argv: string[]): Layer {
  const entries: [string, unknown][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}'; settings are given as --key=value`);
    const eq = arg.indexOf('=');
    if (eq > 2) {
      entries.push([arg.slice(2, eq), arg.slice(eq + 1)]);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      entries.push([arg.slice(2), argv[++i]]);
    } else {
      throw new ConfigError(`flag ${arg} needs a value (--key=value)`);
    }
  }
  return { source: 'command line', entries, strict: true };
}
