import { describe, expect, it } from 'vitest';
import { fineTunedPriceNames, fineTunedRatesName } from '../src/accounting/fine-tuned-names.js';

describe('fine-tuned model names', () => {
  it('prices a fine-tuned snapshot by its base model’s fine-tuned rates, then by the base model', () => {
    expect(fineTunedPriceNames('ft:gpt-4o-2024-08-06:acme:support-bot:A1b2C3')).toEqual({ fineTunedRates: 'ft:gpt-4o', baseRates: 'gpt-4o' });
    expect(fineTunedPriceNames('ft:gpt-4o-mini-2024-07-18:acme::xyz')).toEqual({ fineTunedRates: 'ft:gpt-4o-mini', baseRates: 'gpt-4o-mini' });
    expect(fineTunedPriceNames('ft:gpt-3.5-turbo-0125:acme::xyz')).toEqual({ fineTunedRates: 'ft:gpt-3.5-turbo', baseRates: 'gpt-3.5-turbo' });
    expect(fineTunedPriceNames('ft:davinci-002:acme::xyz')).toEqual({ fineTunedRates: 'ft:davinci-002', baseRates: 'davinci-002' });
  });

  it('leaves other names alone', () => {
    expect(fineTunedPriceNames('gpt-4o')).toBeUndefined();
    expect(fineTunedPriceNames('ft:')).toBeUndefined();
  });

  it('keys the catalog’s fine-tuned prefixes by the same names', () => {
    expect(fineTunedRatesName('ft:gpt-4o-2024-')).toBe('ft:gpt-4o');
    expect(fineTunedRatesName('ft:gpt-4o-mini-2024-')).toBe('ft:gpt-4o-mini');
    expect(fineTunedRatesName('ft:gpt-3.5-turbo')).toBe('ft:gpt-3.5-turbo');
    expect(fineTunedRatesName('ft:gpt-4-0')).toBe('ft:gpt-4');
    expect(fineTunedRatesName('gpt-4')).toBeUndefined();
  });
});
