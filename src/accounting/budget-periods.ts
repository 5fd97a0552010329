/** A budget's period. `total` never resets. */
export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'week', 'month', 'total'];

/** [start, end) in epoch ms. */
export interface PeriodSpan {
  start: number;
  end: number;
}

/** The end of a `total` period: later than any timestamp the proxy stores. */
export const NEVER = 8_640_000_000_000_000;

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  return format;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
}

/** The calendar date at `instant` in `timeZone`, and the zone's offset from UTC then. */
function wallClock(instant: number, timeZone: string): WallClock & { offsetMs: number } {
  const parts: Record<string, number> = {};
  for (const p of formatFor(timeZone).formatToParts(instant)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return { year: parts.year, month: parts.month, day: parts.day, offsetMs: asUtc - Math.floor(instant / 1000) * 1000 };
}

/** The instant a calendar date begins in `timeZone`; twice corrected, so a date whose offset differs (DST) is exact. */
function startOfDate(date: WallClock, timeZone: string): number {
  const naive = Date.UTC(date.year, date.month - 1, date.day);
  let guess = naive - wallClock(naive, timeZone).offsetMs;
  guess = naive - wallClock(guess, timeZone).offsetMs;
  return guess;
}

/** Adds days to a calendar date (Date.UTC normalises overflowing days and months). */
function addDays(date: WallClock, days: number): WallClock {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The calendar period containing `instant`: days from midnight, weeks from Monday, months from the 1st, in `timeZone`. */
export function periodAt(period: BudgetPeriod, instant: number, timeZone: string): PeriodSpan {
  if (period === 'total') return { start: 0, end: NEVER };
  const today = wallClock(instant, timeZone);
  let first: WallClock;
  let next: WallClock;
  if (period === 'day') {
    first = today;
    next = addDays(today, 1);
  } else if (period === 'week') {
    const weekday = (new Date(Date.UTC(today.year, today.month - 1, today.day)).getUTCDay() + 6) % 7; // Monday = 0
    first = addDays(today, -weekday);
    next = addDays(first, 7);
  } else {
    first = { year: today.year, month: today.month, day: 1 };
    next = today.month === 12 ? { year: today.year + 1, month: 1, day: 1 } : { year: today.year, month: today.month + 1, day: 1 };
  }
  return { start: startOfDate(first, timeZone), end: startOfDate(next, timeZone) };
}
