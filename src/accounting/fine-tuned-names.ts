import { baseModelName } from './model-names.js';

/**
 * The names a fine-tuned model (`ft:<base>:<org>:<suffix>:<id>`) is priced
 * by when it has no price of its own: first the fine-tuned rates of its base
 * (`ft:gpt-4o` for `ft:gpt-4o-2024-08-06:acme::abc`, as the catalog keys them),
 * then the base model's own rates (`gpt-4o`), which a query then says it was
 * priced at. Undefined for any other name.
 */
export function fineTunedPriceNames(model: string): { fineTunedRates: string; baseRates: string } | undefined {
  if (!model.startsWith('ft:')) return undefined;
  const base = model.slice(3).split(':')[0];
  if (base === '') return undefined;
  const undated = baseModelName(base);
  return { fineTunedRates: `ft:${undated}`, baseRates: undated };
}

/**
 * The name the catalog's fine-tuned rates are kept under, from the prefix its
 * models are matched by: `ft:gpt-4o-2024-` and `ft:gpt-4-0` give `ft:gpt-4o`
 * and `ft:gpt-4`, the names fineTunedPriceNames looks for.
 */
export function fineTunedRatesName(prefix: string): string | undefined {
  if (!prefix.startsWith('ft:')) return undefined;
  const base = prefix
    .slice(3)
    .replace(/-+$/, '')
    .replace(/-(?:\d{4}|0\d{0,3})$/, '');
  return base === '' ? undefined : `ft:${base}`;
}
