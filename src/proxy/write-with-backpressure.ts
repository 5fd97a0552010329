import type { ServerResponse } from 'node:http';

/**
 * Writes and, when the client's socket buffer is full, waits for it to drain
 * (or close) before the next chunk is read from the upstream: a slow reader
 * slows the upstream instead of growing our memory.
 */
export function writeWithBackpressure(out: ServerResponse, chunk: Buffer): Promise<void> | undefined {
  if (out.destroyed) return undefined;
  if (out.write(chunk)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
