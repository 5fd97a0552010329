import { badRequest } from '../http/errors.js';

// Dated snapshots: gpt-4o-2024-08-06, o1-2024-12-17, gpt-3.5-turbo-0125, gpt-4-0613.
const SNAPSHOT_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;

/**
 * The undated name a snapshot falls back to for its price.
 * Fine-tuned names (`ft:...`) are never shortened.
 */
export function baseModelName(model: string): string {
  if (model.startsWith('ft:')) return model;
  const base = model.replace(SNAPSHOT_SUFFIX, '');
  return base === '' ? model : base;
}

/** The rule every model name the proxy stores must meet, whoever sends it. */
export function requireModelName(name: string): string {
  if (!name || name.length > 256) throw badRequest('invalid_model_name', 'a model name must have 1 to 256 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw badRequest('invalid_model_name', 'a model name must not contain control characters');
  if (name.trim() !== name) throw badRequest('invalid_model_name', 'a model name must not begin or end with spaces');
  return name;
}
