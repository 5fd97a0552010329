import { readFileSync } from 'node:fs';

/** Parsers for configuration values; each throws a plain message, the loader adds the key. */

function parsePort(raw: unknown): number {
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`'${raw}' is not a TCP port (0-65535)`);
  return n;
}

function parsePositiveInteger(raw: unknown): number {
  const s = String(raw).trim();
  if (!/^\d{1,9}$/.test(s) || Number(s) < 1) throw new Error(`'${s}' is not a whole number of at least 1`);
  return Number(s);
}

function parseNonEmptyString(raw: unknown): string {
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new Error(`'${String(raw)}' is not a string`);
  const s = String(raw).trim();
  if (s === '') throw new Error('must not be empty');
  return s;
}

function parseHttpUrl(raw: unknown): string {
  const s = parseNonEmptyString(raw);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`'${s}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`'${s}' must be an http:// or https:// URL`);
  return s;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds: a bare number is milliseconds; `30s`, `500ms`, `15m`, `1h` also work. */
function parseDurationMs(raw: unknown): number {
  const s = String(raw).trim();
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(s);
  if (!m) throw new Error(`'${s}' is not a duration (e.g. 30s, 500ms, 15m, or milliseconds)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']);
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Bytes: a bare number is bytes; `64mb`, `512kb` also work. */
function parseSizeBytes(raw: unknown): number {
  const s = String(raw).trim().toLowerCase();
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/.exec(s);
  if (!m) throw new Error(`'${s}' is not a size (e.g. 64mb, 512kb, or bytes)`);
  const n = Number(m[1]) * SIZE_UNITS[m[2] ?? 'b'];
  if (n < 1) throw new Error('must be at least 1 byte');
  return n;
}

/** `auto` (one per core, worked out at start-up) or a whole number of at least 1. */
function parseWorkers(raw: unknown): number | 'auto' {
  const s = String(raw).trim().toLowerCase();
  if (s === 'auto') return 'auto';
  if (!/^\d{1,4}$/.test(s) || Number(s) < 1) throw new Error(`'${String(raw).trim()}' is not auto or a whole number of at least 1`);
  return Number(s);
}

const TRUE_WORDS = ['true', 'yes', 'on', '1'];
const FALSE_WORDS = ['false', 'no', 'off', '0'];

function parseBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).trim().toLowerCase();
  if (TRUE_WORDS.includes(s)) return true;
  if (FALSE_WORDS.includes(s)) return false;
  throw new Error(`'${raw}' is not true or false`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(raw: unknown): string {
  const s = String(raw).trim().toLowerCase();
  if (!LOG_LEVELS.includes(s)) throw new Error(`'${raw}' is not one of ${LOG_LEVELS.join(', ')}`);
  return s;
}

/** A secret given as itself, or as the path of a file that holds it (`/run/secrets/x`, `./token`), as secrets managers hand them out. */
function parseSecretOrFile(raw: unknown): string {
  const s = parseNonEmptyString(raw);
  if (!s.startsWith('/') && !s.startsWith('./')) return s;
  let text: string;
  try {
    text = readFileSync(s, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the file ${s} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseNonEmptyString(text);
}

/** Who may call the proxy (auth.callers). */
const CALLER_MODES = ['header', 'keys', 'either'] as const;
export type CallerMode = (typeof CALLER_MODES)[number];

function parseCallerMode(raw: unknown): CallerMode {
  const s = String(raw).trim().toLowerCase();
  if (!(CALLER_MODES as readonly string[]).includes(s)) throw new Error(`'${raw}' is not one of ${CALLER_MODES.join(', ')}`);
  return s as CallerMode;
}

/** An IANA time zone this runtime knows, such as Europe/Berlin or UTC. */
function parseTimeZone(raw: unknown): string {
  const s = parseNonEmptyString(raw);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s });
  } catch {
    throw new Error(`'${s}' is not a time zone (an IANA name such as UTC or Europe/Berlin)`);
  }
  return s;
}

/** How a setting's value is parsed, named in `--help` (`--server.port=<port>`) and shown back (`30s`, not 30000). */
export interface ValueKind<T = unknown> {
  parse(raw: unknown): T;
  placeholder: string;
  show?(value: T): string;
}

/** The largest unit that divides the value exactly, so a default reads as it would be written: 15m, 30s, 64MB. */
function inLargestUnit(n: number, units: [string, number][]): string {
  const [name, size] = units.find(([, size]) => n % size === 0) ?? units[units.length - 1];
  return `${n / size}${name}`;
}

const formatDuration = (ms: number) =>
  inLargestUnit(ms, [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ]);
const formatSize = (bytes: number) =>
  inLargestUnit(bytes, [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
    ['B', 1],
  ]);

export const URL_VALUE = { parse: parseHttpUrl, placeholder: '<url>' } satisfies ValueKind;
export const TEXT = { parse: parseNonEmptyString, placeholder: '<text>' } satisfies ValueKind;
export const HOST = { parse: parseNonEmptyString, placeholder: '<address>' } satisfies ValueKind;
export const DATABASE = { parse: parseNonEmptyString, placeholder: '<file|url>' } satisfies ValueKind;
export const PATH = { parse: parseNonEmptyString, placeholder: '<path>' } satisfies ValueKind;
export const PORT = { parse: parsePort, placeholder: '<port>' } satisfies ValueKind;
export const COUNT = { parse: parsePositiveInteger, placeholder: '<n>' } satisfies ValueKind;
export const WORKERS = { parse: parseWorkers, placeholder: '<n|auto>' } satisfies ValueKind;
export const BOOLEAN = { parse: parseBoolean, placeholder: '<true|false>' } satisfies ValueKind;
export const LOG_LEVEL = { parse: parseLogLevel, placeholder: '<level>' } satisfies ValueKind;
export const DURATION = { parse: parseDurationMs, placeholder: '<duration>', show: (v: number) => formatDuration(v) } satisfies ValueKind;
export const SIZE = { parse: parseSizeBytes, placeholder: '<size>', show: (v: number) => formatSize(v) } satisfies ValueKind;
export const SECRET_OR_FILE = { parse: parseSecretOrFile, placeholder: '<token|file>' } satisfies ValueKind;
export const CALLERS = { parse: parseCallerMode, placeholder: '<header|keys|either>' } satisfies ValueKind;
export const TIME_ZONE = { parse: parseTimeZone, placeholder: '<zone>' } satisfies ValueKind;
