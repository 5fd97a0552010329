import { describe, expect, it } from 'vitest';
import { NEVER, periodAt } from '../../src/accounting/budget-periods.js';

const at = (iso: string) => Date.parse(iso);
const span = (period: Parameters<typeof periodAt>[0], iso: string, zone: string) => {
  const s = periodAt(period, at(iso), zone);
  return [new Date(s.start).toISOString(), s.end === NEVER ? 'never' : new Date(s.end).toISOString()];
};

describe('calendar periods of budgets', () => {
  it('days, weeks (from Monday) and months in UTC', () => {
    expect(span('day', '2026-03-04T23:59:59.999Z', 'UTC')).toEqual(['2026-03-04T00:00:00.000Z', '2026-03-05T00:00:00.000Z']);
    // 2026-03-04 is a Wednesday.
    expect(span('week', '2026-03-04T12:00:00Z', 'UTC')).toEqual(['2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z']);
    expect(span('week', '2026-03-08T23:00:00Z', 'UTC')).toEqual(['2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z']);
    expect(span('month', '2026-12-31T23:00:00Z', 'UTC')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(span('total', '2026-12-31T23:00:00Z', 'UTC')).toEqual(['1970-01-01T00:00:00.000Z', 'never']);
  });

  it('begin at local midnight in the zone, across daylight saving changes', () => {
    // 23:30 UTC on 4 March is already 5 March in Tokyo (UTC+9).
    expect(span('day', '2026-03-04T23:30:00Z', 'Asia/Tokyo')).toEqual(['2026-03-04T15:00:00.000Z', '2026-03-05T15:00:00.000Z']);
    // Berlin moves to summer time on 29 March 2026: that day has 23 hours, and the month ends at 22:00 UTC.
    expect(span('day', '2026-03-29T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    expect(span('month', '2026-03-15T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z']);
    // New York, 1 November 2026 (back to standard time): a 25-hour day.
    expect(span('day', '2026-11-01T12:00:00Z', 'America/New_York')).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z']);
  });
});
