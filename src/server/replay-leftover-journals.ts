import type { Logger } from 'pino';
import { JournalingStore } from '../store/journal/journaling-store.js';
import { leftoverJournals } from '../store/journal/journal-path.js';
import type { Store } from '../store/types.js';

/**
 * Replays the journals no running process owns (see leftoverJournals) into
 * `database`, which stays open. A journal the database cannot take now (it is
 * down: the proxy starts anyway) stays as it is, for the next start.
 */
export async function replayLeftoverJournals(database: Store, journalPath: string, workers: number, log: Logger): Promise<void> {
  for (const path of leftoverJournals(journalPath, workers)) {
    log.info(`journal ${path} belongs to no running worker; replaying it`);
    const replaying = await JournalingStore.open(keptOpen(database), { journalPath: path, log });
    // Replay runs in the background from open(); this waits for a whole pass, as close() would stop it after a batch.
    await replaying.runPass();
    const { journal } = replaying.health();
    if (journal.pending > 0) log.warn(`journal ${path}: ${journal.pending} calls could not be replayed yet; they will be on the next start`);
    await replaying.close();
  }
}

/** The same store, with close() left to its owner. */
function keptOpen(store: Store): Store {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'close') return async () => undefined;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
