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

/** What is wrong with a model name, or undefined: the rule every model name the proxy stores must meet, whoever sends it. */
export function modelNameProblem(name: string): string | undefined {
  if (!name || name.length > 256) return 'a model name must have 1 to 256 characters';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'a model name must not contain control characters';
  if (name.trim() !== name) return 'a model name must not begin or end with spaces';
  return undefined;
}

/** The name, if it meets the rule; otherwise a 400 with `code` naming the problem. */
export function requireModelName(name: string, code = 'invalid_model_name'): string {
  const problem = modelNameProblem(name);
  if (problem) throw badRequest(code, problem);
  return name;
}
