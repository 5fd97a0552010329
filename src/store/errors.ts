/**
 * The database could not do what was asked (down, full, read-only). The
 * server turns it into a 503; the cause goes to the log, not to the caller.
 */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** The database holds a schema written by a newer version of the proxy; starting would risk its data. */
export class SchemaTooNewError extends Error {}

/**
 * The connection broke while COMMIT was on its way: the server may have committed or not, and the caller cannot
 * tell. `txid` is the transaction's id, whose fate the database can be asked about later (txid_status).
 */
export class CommitInDoubtError extends Error {
  constructor(
    readonly txid: string,
    readonly cause: unknown,
  ) {
    super(`the connection broke during COMMIT: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'CommitInDoubtError';
  }
}

/** A grouped usage read would hold more groups than allowed: the caller narrows the range or groups by less. */
export class TooManyGroupsError extends Error {
  constructor(readonly maxGroups: number) {
    super(`more than ${maxGroups} groups`);
    this.name = 'TooManyGroupsError';
  }
}
