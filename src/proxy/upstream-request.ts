import type { Dispatcher } from 'undici';

/** What became of a request on its way up. */
export interface SendProgress {
  /** The whole request, head and body, was handed to the upstream's connection: the upstream may act on it (and bill it). */
  sent: boolean;
}

/**
 * `pool.request`, noting in `progress` when the request has been sent in
 * full, so that a call whose answer then fails (a malformed answer, a
 * connection closed without one) can be told from one the upstream never got.
 */
export function requestUpstream(pool: Dispatcher, options: Dispatcher.RequestOptions, progress: SendProgress): Promise<Dispatcher.ResponseData> {
  const tracking = {
    dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler & { onRequestSent?: () => void }) {
      // undici calls a handler's onRequestSent once the last byte of the request is written.
      handler.onRequestSent = () => {
        progress.sent = true;
      };
      return pool.dispatch(opts, handler);
    },
  };
  return (pool.request as (this: unknown, o: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>).call(tracking, options);
}
