import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENAI_PRICES_VERSION, genaiPricesCatalog } from '../src/accounting/price-catalog/genai-prices.js';
import { loadPriceCatalog } from '../src/accounting/price-catalog/load-price-catalog.js';
import { loadConfig } from '../src/config/load-config.js';

const catalog = genaiPricesCatalog();
const perMillion = (name: string, at = Date.now()) => {
  const prices = catalog.get(name);
  expect(prices, `the catalog prices ${name}`).toBeDefined();
  const p = prices!.filter((x) => x.serviceTier === undefined && x.validFrom < at).at(-1)!;
  const m = (v: number | null) => (v === null ? null : Math.round(v * 1000 * 1e6) / 1e6);
  return { input: m(p.per1KQueryTokens), cached: m(p.per1KCachedQueryTokens), output: m(p.per1KAnswerTokens) };
};

describe('the bundled catalog (@pydantic/genai-prices)', () => {
  it('is the exact version package.json pins', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.dependencies['@pydantic/genai-prices']).toBe(GENAI_PRICES_VERSION);
    const installed = JSON.parse(readFileSync('node_modules/@pydantic/genai-prices/package.json', 'utf8'));
    expect(installed.version).toBe(GENAI_PRICES_VERSION);
  });

  // OpenAI's published prices, dollars per million tokens (openai.com/api/pricing).
  it.each([
    ['gpt-4o', { input: 2.5, cached: 1.25, output: 10 }],
    ['gpt-4o-mini', { input: 0.15, cached: 0.075, output: 0.6 }],
    ['gpt-4.1', { input: 2, cached: 0.5, output: 8 }],
    ['gpt-4.1-mini', { input: 0.4, cached: 0.1, output: 1.6 }],
    ['gpt-4.1-nano', { input: 0.1, cached: 0.025, output: 0.4 }],
    ['gpt-5', { input: 1.25, cached: 0.125, output: 10 }],
    ['gpt-5-mini', { input: 0.25, cached: 0.025, output: 2 }],
    ['gpt-5-nano', { input: 0.05, cached: 0.005, output: 0.4 }],
    ['o1', { input: 15, cached: 7.5, output: 60 }],
    ['o3', { input: 2, cached: 0.5, output: 8 }],
    ['o4-mini', { input: 1.1, cached: 0.275, output: 4.4 }],
    ['text-embedding-3-small', { input: 0.02, cached: null, output: 0 }],
    ['text-embedding-3-large', { input: 0.13, cached: null, output: 0 }],
  ])('prices %s as OpenAI publishes it', (model, expected) => {
    expect(perMillion(model)).toEqual(expected);
  });

  it("keeps a model's price history: o3 cost $10/$40 before its cut on 2025-06-10", () => {
    expect(perMillion('o3', Date.parse('2025-05-01T00:00:00Z'))).toEqual({ input: 10, cached: 0.5, output: 40 });
    const defaultTier = catalog.get('o3')!.filter((p) => p.serviceTier === undefined);
    expect(defaultTier.map((p) => new Date(p.validFrom).toISOString())).toEqual(['1970-01-01T00:00:00.000Z', '2025-06-10T00:00:00.000Z']);
  });

  it('lists a dated snapshot only when its price differs from its undated name', () => {
    expect(perMillion('gpt-4o-2024-05-13')).toEqual({ input: 5, cached: null, output: 15 });
    // Same price as gpt-4o: priced through the undated name, not listed twice.
    expect(catalog.has('gpt-4o-2024-08-06')).toBe(false);
    // Undated aliases are listed under their own name.
    expect(perMillion('o4-mini-high')).toEqual(perMillion('o4-mini'));
  });

  it('has no entries for names that are patterns, not models', () => {
    for (const name of catalog.keys()) expect(name).not.toMatch(/-$|^moderation$/);
  });
});

describe('prices.file and prices.catalog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oap-prices-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads a YAML table whose models replace the catalog entries of the same name', async () => {
    const path = file(
      'prices.yaml',
      [
        'gpt-4o:',
        '  - validFrom: 2024-01-01T00:00:00Z',
        '    per1KQueryTokens: 0.004',
        '    per1KAnswerTokens: 0.012',
        '  - validFrom: 2025-01-01T00:00:00+01:00',
        '    per1KQueryTokens: 0.002',
        '    per1KAnswerTokens: 0.008',
        '    per1KCachedQueryTokens: 0.001',
        'our-fine-tune:',
        '  per1KQueryTokens: 0.003',
        '  per1KAnswerTokens: 0.006',
      ].join('\n'),
    );
    const { prices, origins } = await loadPriceCatalog({ catalog: true, file: path });
    expect(prices.get('gpt-4o')).toEqual([
      { validFrom: Date.parse('2024-01-01T00:00:00Z'), per1KQueryTokens: 0.004, per1KAnswerTokens: 0.012, per1KCachedQueryTokens: null },
      { validFrom: Date.parse('2024-12-31T23:00:00Z'), per1KQueryTokens: 0.002, per1KAnswerTokens: 0.008, per1KCachedQueryTokens: 0.001 },
    ]);
    // Without validFrom a price covers all history.
    expect(prices.get('our-fine-tune')).toEqual([{ validFrom: 0, per1KQueryTokens: 0.003, per1KAnswerTokens: 0.006, per1KCachedQueryTokens: null }]);
    expect(origins.get('gpt-4o')).toBe('file');
    expect(origins.get('gpt-4.1')).toBe('catalog');
    expect(prices.get('gpt-4.1')).toEqual(catalog.get('gpt-4.1'));
  });

  it('reads JSON as well, and with prices.catalog false it is the only source', async () => {
    const path = file('prices.json', JSON.stringify({ 'gpt-4o': { per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.01 } }));
    const { prices, origins } = await loadPriceCatalog({ catalog: false, file: path });
    expect([...prices.keys()]).toEqual(['gpt-4o']);
    expect(origins.get('gpt-4o')).toBe('file');
    expect((await loadPriceCatalog({ catalog: false })).prices.size).toBe(0);
  });

  it.each([
    ['a missing file', null, /prices\.file .*missing\.yaml: cannot be read \(ENOENT\)/],
    ['invalid YAML', 'gpt-4o: [unclosed', /prices\.file .*: is neither valid YAML nor JSON/],
    ['a list at the top', '- gpt-4o', /prices\.file .*: must hold a mapping of model names to prices/],
    ['a negative price', 'gpt-4o:\n  per1KQueryTokens: -1', /prices\.file .*: gpt-4o: per1KQueryTokens must be a number from 0 to 1000/],
    ['a price that is text', 'gpt-4o:\n  per1KAnswerTokens: cheap', /gpt-4o: per1KAnswerTokens must be a number/],
    [
      'a validFrom without a zone',
      'gpt-4o:\n  - validFrom: "2024-01-01T00:00:00"\n    per1KQueryTokens: 1',
      /gpt-4o\[0\]: validFrom '2024-01-01T00:00:00' is not an ISO-8601 timestamp with a zone/,
    ],
    ['an unknown field', 'gpt-4o:\n  per1KInputTokens: 1', /gpt-4o: unknown field 'per1KInputTokens'/],
    [
      'two prices from the same time',
      'gpt-4o:\n  - {per1KQueryTokens: 1}\n  - {per1KQueryTokens: 2}',
      /model 'gpt-4o' has two default-tier prices valid from 1970-01-01T00:00:00.000Z/,
    ],
    ['an empty list', 'gpt-4o: []', /model 'gpt-4o' has an empty list of prices/],
  ])('stops start-up on %s, naming the key and the problem', async (_what, text, message) => {
    const path = text === null ? join(dir, 'missing.yaml') : file('bad.yaml', text);
    await expect(loadPriceCatalog({ catalog: true, file: path })).rejects.toThrow(message);
  });

  it('config: prices.catalog defaults to true, takes true/false words, and prices.file resolves against the working directory', () => {
    const base = { cwd: dir, env: {} };
    expect(loadConfig({ ...base, argv: [] }).config.prices).toEqual({ catalog: true, file: undefined });
    expect(loadConfig({ ...base, env: { PRICES_CATALOG: 'false', PRICES_FILE: 'prices.yaml' } }).config.prices).toEqual({
      catalog: false,
      file: join(dir, 'prices.yaml'),
    });
    expect(() => loadConfig({ ...base, argv: ['--prices.catalog=perhaps'] })).toThrow(/prices\.catalog .*'perhaps' is not true or false/);
  });
});
