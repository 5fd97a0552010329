// Dated snapshots: gpt-4o-2024-08-06, o1-2024-12-17, gpt-3.5-turbo-0125, gpt-4-0613.
const SNAPSHOT_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;

/**
 * The undated name a snapshot falls back to for its price (SPEC §3).
 * Fine-tuned names (`ft:...`) are never shortened.
 */
export function baseModelName(model: string): string {
  if (model.startsWith('ft:')) return model;
  const base = model.replace(SNAPSHOT_SUFFIX, '');
  return base === '' ? model : base;
}
