import type { Store } from '../../src/store/types.js';

/** A real store whose commits wait for the test to open the gate, to observe what the caller has seen meanwhile. */
export function gatedStore(inner: Store) {
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let waiting = 0;
  const store: Store = Object.create(inner);
  store.recordQuery = async (query, limits) => {
    waiting++;
    await gate;
    return inner.recordQuery(query, limits);
  };
  return {
    store,
    get waiting() {
      return waiting;
    },
    open: () => open(),
    reset: () => {
      waiting = 0;
      gate = new Promise<void>((resolve) => (open = resolve));
    },
  };
}
