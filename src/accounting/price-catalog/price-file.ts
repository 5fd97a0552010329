import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parsePriceBody } from '../price-body.js';
import { ConfigError } from '../../config/load-config.js';
import type { Price } from '../price.js';
import type { PriceTable } from './price-table.js';
import { errorText } from '../../common/error-text.js';

const ALL_HISTORY = '1970-01-01T00:00:00Z';

/**
 * Reads the price table of `prices.file`: a YAML or JSON mapping of model
 * name to one price or a list of them, each shaped like the body of
 * `POST /model/{name}`. A price without `validFrom` covers all history.
 * Anything wrong stops start-up with a message naming the key, the file and
 * the entry.
 */
export function readPriceFile(path: string): PriceTable {
  const fail = (problem: string): never => {
    throw new ConfigError(`prices.file ${path}: ${problem}`);
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? errorText(err)})`);
  }
  let doc: unknown;
  try {
    // YAML 1.2 reads JSON as well.
    doc = parseYaml(text);
  } catch (err) {
    return fail(`is neither valid YAML nor JSON: ${errorText(err)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return fail('must hold a mapping of model names to prices, e.g. {"gpt-4o": {"per1KQueryTokens": 0.0025, "per1KAnswerTokens": 0.01}}');
  }
  const table: PriceTable = new Map();
  for (const [model, value] of Object.entries(doc)) {
    const entries = Array.isArray(value) ? value : [value];
    if (entries.length === 0) fail(`model '${model}' has an empty list of prices`);
    const prices: Price[] = entries.map((entry, i) => {
      const where = Array.isArray(value) ? `${model}[${i}]` : model;
      const body =
        entry !== null && typeof entry === 'object' && !Array.isArray(entry) && !('validFrom' in entry) ? { validFrom: ALL_HISTORY, ...entry } : entry;
      try {
        return parsePriceBody(body);
      } catch (err) {
        return fail(`${where}: ${errorText(err)}`);
      }
    });
    prices.sort((a, b) => a.validFrom - b.validFrom);
    const seen = new Set<string>();
    for (const p of prices) {
      const tier = p.serviceTier ?? 'default';
      if (seen.has(`${tier}@${p.validFrom}`)) {
        fail(`model '${model}' has two ${tier}-tier prices valid from ${new Date(p.validFrom).toISOString()}`);
      }
      seen.add(`${tier}@${p.validFrom}`);
    }
    table.set(model, prices);
  }
  return table;
}
