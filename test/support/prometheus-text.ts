// parse-prometheus-text-format ships no types; this is the shape it returns.
// @ts-expect-error no declaration file
import parsePrometheusTextFormatUntyped from 'parse-prometheus-text-format';

export interface PrometheusFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

const parsePrometheusText = parsePrometheusTextFormatUntyped as (text: string) => PrometheusFamily[];

/** The families by name. */
export function metricFamilies(text: string): Map<string, PrometheusFamily> {
  return new Map(parsePrometheusText(text).map((f) => [f.name, f]));
}

/** The sum of a family's values over the series whose labels include `where`. */
export function sumOf(family: PrometheusFamily | undefined, where: Record<string, string> = {}): number {
  if (!family) return 0;
  return family.metrics.filter((m) => Object.entries(where).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0);
}

/**
 * count and sum of a histogram over all its series. The parser above merges a labelled histogram's series into one
 * (keeping only buckets), so these two are read from the sample lines it has already checked.
 */
export function histogramTotals(text: string, name: string): { count: number; sum: number } {
  const total = (suffix: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name}_${suffix}{`) || line.startsWith(`${name}_${suffix} `))
      .reduce((n, line) => n + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  parsePrometheusText(text);
  return { count: total('count'), sum: total('sum') };
}
