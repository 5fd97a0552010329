import { badRequest } from './errors.js';

// Date and time, optional seconds and fraction, and a zone that must be present:
// Z, +01, +01:00 or +0100 (the original's README uses `2024-01-24T14:50+01`).
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([zZ])|([+-])(\d{2})(?::?(\d{2}))?)$/;

/** Epoch milliseconds for an ISO-8601 timestamp that carries a zone, or undefined. */
export function parseZonedTimestamp(text: string): number | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '0', frac = '', zulu, sign, oh = '0', om = '0'] = m;
  const year = Number(y),
    month = Number(mo),
    day = Number(d);
  const hour = Number(h),
    minute = Number(mi),
    second = Number(s);
  const offsetH = Number(oh),
    offsetM = Number(om);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offsetH > 23 || offsetM > 59) return undefined;
  const millis = frac ? Math.floor(Number(frac.padEnd(3, '0').slice(0, 3))) : 0;
  const local = utc(year, month - 1, day, hour, minute, second, millis);
  if (zulu) return local;
  const offset = (offsetH * 60 + offsetM) * 60_000;
  return sign === '+' ? local - offset : local + offset;
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 0)).getUTCDate();
}

/** Parses a timestamp given as the named parameter, or throws a 400 naming it. */
export function requireZonedTimestamp(name: string, value: unknown): number {
  if (typeof value !== 'string' || value === '') {
    throw badRequest('invalid_timestamp', `${name} must be an ISO-8601 timestamp with a zone, e.g. 2024-01-24T14:50:00Z`);
  }
  const parsed = parseZonedTimestamp(value);
  if (parsed === undefined) {
    throw badRequest('invalid_timestamp', `${name} '${value}' is not an ISO-8601 timestamp with a zone (Z, +01, +01:00 or +0100), e.g. 2024-01-24T14:50:00Z`);
  }
  return parsed;
}

export const isoUtc = (epochMs: number) => new Date(epochMs).toISOString();

/** Date.UTC, except that years 0 to 99 are those years, not 1900 to 1999. */
function utc(year: number, monthIndex: number, day: number, hour = 0, minute = 0, second = 0, millis = 0): number {
  const date = new Date(Date.UTC(2000, monthIndex, day, hour, minute, second, millis));
  date.setUTCFullYear(year, monthIndex, day);
  return date.getTime();
}
