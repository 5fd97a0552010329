/**
 * Time zones for grouped usage, without a time-zone library: Intl knows the
 * IANA rules, and a zone's UTC offset is constant between its transitions, so
 * a range of time is cut into a few segments of constant offset that SQL can
 * use (SQLite and PostgreSQL alike) to put each timestamp in its local hour,
 * day or month.
 */
export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Transitions are months apart; probing weekly finds every one, bisection then finds its millisecond. */
const PROBE_MS = 7 * DAY_MS;

export interface OffsetSegment {
  /** First instant (UTC ms) of the segment; the first segment starts at the range's start. */
  from: number;
  /** Local time minus UTC, in ms. */
  offsetMs: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A checked IANA zone name (or undefined when the runtime does not know it). */
export function knownTimeZone(name: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Local time minus UTC at `ts`, in ms (whole seconds: no zone has had a finer offset since 1972). */
function offsetAt(zone: string, ts: number): number {
  // The common case, and thousands of calls per grouped read: no Intl round trip.
  if (zone === 'UTC') return 0;
  const p: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(ts)) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ts / 1000) * 1000;
}

/** The segments of constant offset that cover [from, to]. */
export function offsetSegments(zone: string, from: number, to: number): OffsetSegment[] {
  const segments: OffsetSegment[] = [{ from, offsetMs: offsetAt(zone, from) }];
  let at = from;
  while (at < to) {
    const next = Math.min(at + PROBE_MS, to);
    const current = segments[segments.length - 1].offsetMs;
    const there = offsetAt(zone, next);
    if (there !== current) {
      // Bisect to the first millisecond with the new offset.
      let lo = at;
      let hi = next;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (offsetAt(zone, mid) === current) lo = mid;
        else hi = mid;
      }
      segments.push({ from: hi, offsetMs: offsetAt(zone, hi) });
      at = hi;
    } else {
      at = next;
    }
  }
  return segments;
}

/**
 * The UTC instant of a local wall time given as ms since 1970-01-01T00:00 local: the earlier one when the wall
 * time occurs twice (clocks set back), the transition itself when it is skipped (clocks set forward).
 */
export function localWallTimeToUtc(zone: string, wall: number): number {
  const before = wall - offsetAt(zone, wall - DAY_MS);
  const after = wall - offsetAt(zone, wall + DAY_MS);
  const fits = (t: number) => t + offsetAt(zone, t) === wall;
  if (fits(before) && fits(after)) return Math.min(before, after);
  if (fits(before)) return before;
  if (fits(after)) return after;
  // Skipped: the instant computed with the earlier offset lies just past the transition.
  return before;
}

/** Local month starts (UTC instants) from the month holding `from` through the month after the one holding `to`. */
export function localMonthStarts(zone: string, from: number, to: number): number[] {
  const local = new Date(from + offsetAt(zone, from));
  let year = local.getUTCFullYear();
  let month = local.getUTCMonth();
  const starts: number[] = [];
  for (;;) {
    const start = localWallTimeToUtc(zone, Date.UTC(year, month, 1));
    starts.push(start);
    if (start > to) return starts;
    month += 1;
    if (month === 12) {
      month = 0;
      year += 1;
    }
  }
}

/** An instant written in the zone's local time with its offset: 2026-03-29T00:00:00+01:00 (Z for UTC). */
export function localIso(zone: string, ts: number): string {
  const offset = offsetAt(zone, ts);
  const wall = new Date(ts + offset).toISOString().slice(0, 19);
  if (zone === 'UTC' && offset === 0) return `${wall}Z`;
  const sign = offset < 0 ? '-' : '+';
  const minutes = Math.abs(offset) / 60_000;
  return `${wall}${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
