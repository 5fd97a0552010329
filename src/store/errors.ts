/**
 * The database could not do what was asked (down, full, read-only). The
 * server turns it into a 503; the cause goes to the log, not to the caller.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
