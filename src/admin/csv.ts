/**
 * CSV as RFC 4180 writes it: CRLF line ends, a header row, and a field in
 * double quotes (its quotes doubled) when it holds a comma, a quote, CR or LF.
 * User and model names are the caller's text, so any of those can occur.
 * Values are written as they are: no spreadsheet-formula escaping, so the file
 * is the data (see the docs for opening it in a spreadsheet).
 */
export type CsvValue = string | number | boolean | null | undefined;

const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRow(values: readonly CsvValue[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : ',') + csvField(values[i]);
  return `${line}\r\n`;
}

/** The header row, then one chunk of text per batch: a consumer that reads slowly holds back the reads. */
export async function* csvChunks<T>(header: readonly string[], batches: AsyncIterable<T[]>, toValues: (row: T) => readonly CsvValue[]): AsyncGenerator<string> {
  yield csvRow(header);
  for await (const batch of batches) {
    let text = '';
    for (const row of batch) text += csvRow(toValues(row));
    yield text;
  }
}
