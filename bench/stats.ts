export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** How far the runs spread around their median, as a fraction of it: (max - min) / median. */
export function spread(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2) return 0;
  return (Math.max(...finite) - Math.min(...finite)) / Math.abs(median(finite));
}

/** Runs per target name, in round order. */
export type PerTarget<T> = Record<string, T[]>;

/** `rounds` rounds, each running every target once in turn, so drift of the machine shows in every target alike. */
export async function alternate<T, N extends { name: string }>(rounds: number, targets: N[], run: (t: N) => Promise<T>): Promise<PerTarget<T>> {
  const out: PerTarget<T> = {};
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) (out[target.name] ??= []).push(await run(target));
  }
  return out;
}

export const pick = <T>(runs: PerTarget<T>, name: string, f: (r: T) => number | undefined): number[] => (runs[name] ?? []).map((r) => f(r) ?? NaN);
