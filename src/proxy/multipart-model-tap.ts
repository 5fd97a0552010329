import { Transform, type TransformCallback } from 'node:stream';

/** A model part's headers and value fit in this; a part that does not is not the model field. */
const PART_HEAD_LIMIT = 1024;
const INCOMPLETE = Symbol('incomplete');
const MODEL_FIELD = /(?:^|\r\n)content-disposition:\s*form-data;\s*name="model"\s*(?:\r\n|$)/i;

/**
 * Passes a multipart body through byte for byte, noting the value of its
 * `model` field on the way, so that audio and image uploads can be priced.
 * It never parses the body: it looks only right after each boundary
 * delimiter (which cannot occur inside a part) and stops looking once it
 * has the model. It holds back at most one part header between chunks.
 */
export class MultipartModelTap extends Transform {
  model?: string;
  private readonly delimiter: Buffer;
  private carry = Buffer.alloc(0);
  private found = false;

  constructor(boundary: string) {
    super();
    this.delimiter = Buffer.from(`--${boundary}`);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.found) this.look(chunk);
    callback(null, chunk);
  }

  private look(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let from = 0;
    for (let at = buf.indexOf(this.delimiter); at !== -1; at = buf.indexOf(this.delimiter, from)) {
      const partStart = at + this.delimiter.length;
      const head = buf.subarray(partStart, partStart + PART_HEAD_LIMIT);
      const value = modelValue(head);
      if (value === INCOMPLETE && head.length < PART_HEAD_LIMIT) {
        this.carry = Buffer.from(buf.subarray(at));
        return;
      }
      if (typeof value === 'string') {
        this.model = value;
        this.found = true;
        this.carry = Buffer.alloc(0);
        return;
      }
      from = partStart;
    }
    // Keep enough to find a delimiter split across two chunks.
    this.carry = Buffer.from(buf.subarray(Math.max(from, buf.length - this.delimiter.length + 1)));
  }
}

function modelValue(part: Buffer): string | typeof INCOMPLETE | undefined {
  const text = part.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return INCOMPLETE;
  if (!MODEL_FIELD.test(text.slice(0, headEnd))) return undefined;
  const valueEnd = text.indexOf('\r\n', headEnd + 4);
  if (valueEnd === -1) return INCOMPLETE;
  const value = Buffer.from(text.slice(headEnd + 4, valueEnd), 'latin1')
    .toString('utf8')
    .trim();
  return value === '' ? undefined : value;
}

/** The boundary of a multipart/form-data content type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}
