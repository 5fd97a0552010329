/**
 * Money as the proxy stores and sums it. A row's cost is rounded to whole
 * nano-dollars (10^-9 $) where it is computed, so its stored double is the
 * nearest one to a decimal with at most nine places; sums are taken over the
 * integer nano-dollars, which every database adds exactly and in any order
 * (PostgreSQL's parallel SUM over DOUBLE PRECISION does not). The API shows
 * dollars as decimal numbers, converted once, here.
 */
const NANOS_PER_DOLLAR = 1_000_000_000;

/**
 * Dollars for a count of nano-dollars: a JS number, a bigint, or the decimal
 * string PostgreSQL returns for SUM(bigint). Done in decimal text, so totals
 * past 2^53 nano-dollars ($9M) still come out as the nearest double.
 */
export function dollarsFromNanos(nanos: number | bigint | string | null | undefined): number {
  if (nanos === null || nanos === undefined) return 0;
  if (typeof nanos === 'number' && Number.isSafeInteger(nanos)) return nanos / NANOS_PER_DOLLAR;
  const digits = BigInt(typeof nanos === 'number' ? Math.round(nanos) : nanos);
  const sign = digits < 0n ? '-' : '';
  const abs = (digits < 0n ? -digits : digits).toString().padStart(10, '0');
  return Number(`${sign}${abs.slice(0, -9)}.${abs.slice(-9)}`);
}

/** A row's cost in dollars as whole nano-dollars (costs are never negative). */
export const nanosFromDollars = (dollars: number): number => Math.floor(dollars * NANOS_PER_DOLLAR + 0.5);

/**
 * The SQL twin of nanosFromDollars, for SQLite and PostgreSQL alike (FLOOR,
 * not ROUND or a cast: those round halves differently on the two).
 */
export const nanosSql = (dollars: string): string => `CAST(FLOOR((${dollars}) * ${NANOS_PER_DOLLAR}.0 + 0.5) AS BIGINT)`;

/** A cost in dollars rounded to whole nano-dollars, as SQL: what a row's cost column holds. */
export const dollarsRoundedToNanosSql = (dollars: string): string => `(FLOOR((${dollars}) * ${NANOS_PER_DOLLAR}.0 + 0.5) / ${NANOS_PER_DOLLAR}.0)`;

/** A price per million tokens as a price per 1,000, without the binary noise of dividing (0.18 -> 0.00018). */
export function perThousandFromPerMillion(perMillion: number): number {
  return Number((perMillion / 1000).toPrecision(15));
}
