import type { ServerResponse } from 'node:http';

/**
 * Writes to the client; false when its socket buffer is full, and the
 * upstream should then be held back until `whenWritable` calls back: a slow
 * reader slows the upstream instead of growing our memory. A client already
 * gone takes nothing (its call is being aborted).
 */
export function writeToClient(out: ServerResponse, chunk: Buffer): boolean {
  if (out.destroyed) return true;
  return out.write(chunk);
}

/** Calls `then` once the client has drained its buffer, or gone. */
export function whenWritable(out: ServerResponse, then: () => void): void {
  const done = () => {
    out.off('drain', done);
    out.off('close', done);
    then();
  };
  out.on('drain', done);
  out.on('close', done);
}
