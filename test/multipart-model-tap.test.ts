import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { MultipartModelTap, multipartBoundary } from '../src/proxy/multipart-model-tap.js';

const BOUNDARY = '----formdata-undici-0123456789';
function form(parts: { name: string; filename?: string; value: string | Buffer }[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const disposition = `Content-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    const type = p.filename ? '\r\nContent-Type: application/octet-stream' : '';
    out.push(Buffer.from(`--${BOUNDARY}\r\n${disposition}${type}\r\n\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(out);
}

async function tapIn(body: Buffer, chunkSize: number) {
  const tap = new MultipartModelTap(BOUNDARY);
  const chunks = [];
  for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
  const passed = await buffer(Readable.from(chunks).pipe(tap));
  return { model: tap.model, passed };
}

describe('MultipartModelTap', () => {
  // The file's own text imitates a model field; only a real part header counts.
  const decoy = Buffer.from(`\r\nContent-Disposition: form-data; name="model"\r\n\r\nnot-this-one\r\n`.repeat(3));
  const body = form([
    { name: 'file', filename: 'a.wav', value: Buffer.concat([Buffer.alloc(3000, 1), decoy, Buffer.alloc(3000, 2)]) },
    { name: 'model', value: 'gpt-4o-transcribe' },
    { name: 'language', value: 'en' },
  ]);

  it.each([1, 7, 64, 1000, 65536])('finds the model field after a file, the body cut into %i-byte chunks, and passes every byte', async (size) => {
    const { model, passed } = await tapIn(body, size);
    expect(model).toBe('gpt-4o-transcribe');
    expect(passed.equals(body)).toBe(true);
  });

  it('finds nothing in a form without a model field', async () => {
    expect(
      (
        await tapIn(
          form([
            { name: 'purpose', value: 'fine-tune' },
            { name: 'file', filename: 'x', value: decoy },
          ]),
          16,
        )
      ).model,
    ).toBeUndefined();
  });

  it('reads the boundary of a multipart content type, quoted or not', () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${BOUNDARY}`)).toBe(BOUNDARY);
    expect(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('application/octet-stream')).toBeUndefined();
  });
});
