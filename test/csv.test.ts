import { describe, expect, it } from 'vitest';
import { csvChunks, csvField, csvRow } from '../src/admin/csv.js';
import { parseCsv } from './support/csv-reader.js';

describe('CSV (RFC 4180)', () => {
  it('writes plain fields as they are and ends every record with CRLF', () => {
    expect(csvRow(['adam', 'gpt-4o', 12, 0.0025, true, null])).toBe('adam,gpt-4o,12,0.0025,true,\r\n');
  });

  it('quotes fields with commas, quotes, CR or LF, doubling the quotes, and reads back to the same values', () => {
    const nasty = ['cain, "the elder"', 'say "hi"', 'two\r\nlines', 'lf\nonly', 'cr\ronly', '', ' spaced ', '=1+1', 'ünï©ødé'];
    expect(csvField('cain, "the elder"')).toBe('"cain, ""the elder"""');
    expect(parseCsv(csvRow(nasty))).toEqual([nasty]);
  });

  it('streams a header row, then one chunk per batch', async () => {
    async function* batches() {
      yield [{ user: 'a,b', n: 1 }];
      yield [
        { user: 'c"d', n: 2 },
        { user: 'e', n: 3 },
      ];
    }
    const chunks: string[] = [];
    for await (const c of csvChunks(['user', 'n'], batches(), (r) => [r.user, r.n])) chunks.push(c);
    expect(chunks).toHaveLength(3);
    expect(parseCsv(chunks.join(''))).toEqual([
      ['user', 'n'],
      ['a,b', '1'],
      ['c"d', '2'],
      ['e', '3'],
    ]);
  });
});
