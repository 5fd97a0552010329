import { describe, expect, it } from 'vitest';
import { SseEventSplitter, type SsePart } from '../../src/proxy/sse-event-splitter.js';

function split(stream: string, chunkSizes: number[], maxEventBytes = 1 << 20): SsePart[] {
  const splitter = new SseEventSplitter(maxEventBytes);
  const bytes = Buffer.from(stream);
  const parts: SsePart[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = chunkSizes[i % chunkSizes.length];
    parts.push(...splitter.push(bytes.subarray(at, at + size)));
    at += size;
  }
  const last = splitter.finish();
  if (last) parts.push(last);
  return parts;
}

const texts = (parts: SsePart[]) => parts.map((p) => p.bytes.toString());

describe('SSE events cut at blank lines, whatever the line ends', () => {
  const events = ['data: {"a":1}', 'event: x\ndata: {"b":2}', 'data: [DONE]'];
  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('finds every event of a stream with %s line ends, in any chunking', (_name, eol) => {
    const stream = events.map((e) => e.replace(/\n/g, eol) + eol + eol).join('');
    const expected = events.map((e) => e.replace(/\n/g, eol) + eol + eol);
    for (const sizes of [[stream.length], [1], [2], [3, 7], [5, 1, 11]]) {
      const parts = split(stream, sizes);
      expect(texts(parts).join('')).toBe(stream);
      // A chunk may end between the CR and LF of a blank line: the LF then starts the next part, as an empty line.
      expect(
        texts(parts)
          .map((t) => t.trim())
          .filter(Boolean),
        `chunks of ${sizes}`,
      ).toEqual(expected.map((e) => e.trim()));
      expect(parts.every((p) => p.whole)).toBe(true);
    }
  });

  it('keeps every byte, in order, for mixed line ends', () => {
    const stream = 'data: 1\r\n\r\ndata: 2\n\ndata: 3\r\rdata: 4\r\n\ndata: 5\n\r\ntrailing';
    for (const sizes of [[1], [2], [4, 3], [100]]) {
      const parts = split(stream, sizes);
      expect(texts(parts).join('')).toBe(stream);
      expect(
        texts(parts)
          .slice(0, 5)
          .map((t) => t.trim()),
      ).toEqual(['data: 1', 'data: 2', 'data: 3', 'data: 4', 'data: 5']);
    }
  });

  it('releases an event larger than it holds in pieces, marked as not whole, and finds the next one', () => {
    const big = `data: ${'x'.repeat(100)}\n\n`;
    const parts = split(`${big}data: small\n\n`, [10], 32);
    expect(texts(parts).join('')).toBe(`${big}data: small\n\n`);
    expect(
      parts
        .filter((p) => !p.whole)
        .map((p) => p.bytes.toString())
        .join(''),
    ).toBe(big);
    expect(parts.at(-1)).toEqual({ bytes: Buffer.from('data: small\n\n'), whole: true });
  });

  it('cuts a 16 MB CR-only stream in linear time', () => {
    const event = `data: ${JSON.stringify({ choices: [{ delta: { content: 'word ' } }] })}\r\r`;
    const stream = event.repeat(Math.ceil((16 << 20) / event.length));
    const splitter = new SseEventSplitter(1 << 20);
    const bytes = Buffer.from(stream);
    let count = 0;
    for (let at = 0; at < bytes.length; at += 16384) count += splitter.push(bytes.subarray(at, at + 16384)).length;
    expect(count).toBe(stream.length / event.length);
  });
});
