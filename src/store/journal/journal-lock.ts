import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';

/**
 * One process per journal: two processes appending at their own idea of the
 * file's end would overwrite each other's lines. A lock file holds the owner's
 * pid; a lock left by a process that is gone (kill -9) is taken over.
 */
export function lockJournal(journalPath: string): () => void {
  const lockPath = `${journalPath}.lock`;
  try {
    const fd = openSync(lockPath, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = Number(readFileSync(lockPath, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new Error(`it is in use by process ${owner} (${lockPath}); give each proxy instance its own journal.path`);
    }
    writeFileSync(lockPath, String(process.pid));
  }
  return () => {
    try {
      if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
    } catch {
      // Already gone: nothing to release.
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
