import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lockJournal } from './journal-lock.js';
import { errorText } from '../../common/error-text.js';

const NEWLINE = 0x0a;
const READ_CHUNK = 256 * 1024;

export interface JournalLine {
  text: string;
  /** Offset just past this line's newline. */
  end: number;
}

interface QueuedAppend {
  bytes: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * An append-only file of lines, each durable (fsync'd) before its append
 * resolves. Appends that arrive while one is being synced are written and
 * synced together (group commit), so a burst of failures costs one fsync per
 * batch, not per call.
 *
 * Every write goes to the end this process knows to be good (`size`), never
 * with O_APPEND: a write that fails half way (disk full) is cut off again, or
 * at worst overwritten by the next one, so a torn line never glues itself to
 * a later one.
 */
export class JournalFile {
  private queue: QueuedAppend[] = [];
  private flushQueued = false;
  private exclusive: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private size: number,
    private readonly unlock: () => void,
  ) {}

  /** Opens (or creates) the journal, cutting off a line left unfinished by a crash. */
  static async open(path: string, log: { warn: (msg: string) => void }): Promise<JournalFile> {
    let unlock: () => void;
    try {
      unlock = lockJournal(path);
    } catch (err) {
      throw new Error(`cannot open the journal ${path} (journal.path): ${errorText(err)}`);
    }
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'a+');
      await fh.close();
      fh = await open(path, 'r+');
      const size = (await fh.stat()).size;
      const good = await endOfLastLine(fh, size);
      if (good < size) {
        // Its append never resolved, so no caller was given the answer it belongs to.
        log.warn(`journal ${path}: dropped ${size - good} bytes of a line left unfinished by a crash`);
        await fh.truncate(good);
        await fh.datasync();
      }
      syncDirectory(dirname(path));
      return new JournalFile(path, fh, good, unlock);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      unlock();
      throw new Error(`cannot open the journal ${path} (journal.path): ${errorText(err)}`);
    }
  }

  get bytes(): number {
    return this.size;
  }

  /** Resolves once the line is on disk; rejects when it could not be written (and then it is not in the file). */
  append(line: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes: line, resolve, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        void this.runExclusive(() => this.flush());
      }
    });
  }

  /** Writes an empty line: tells whether the disk takes writes again, and readers skip it. */
  probe(): Promise<void> {
    return this.append(Buffer.from('\n'));
  }

  /** The non-empty lines from `from` to the end as it is now, read a chunk at a time. */
  async *linesFrom(from: number): AsyncGenerator<JournalLine> {
    const end = this.size;
    let position = from;
    let carry = Buffer.alloc(0);
    while (position < end) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK, end - position));
      const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const dataStart = position - carry.length;
      position += bytesRead;
      let lineStart = 0;
      for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, lineStart)) {
        if (nl > lineStart) yield { text: data.toString('utf8', lineStart, nl), end: dataStart + nl + 1 };
        lineStart = nl + 1;
      }
      carry = Buffer.from(data.subarray(lineStart));
    }
  }

  /**
   * Empties the file when everything up to `readUpTo` has been replayed and
   * nothing was appended since; otherwise leaves it (a later pass will).
   */
  emptyIfFullyRead(readUpTo: number): Promise<boolean> {
    return this.runExclusive(async () => {
      if (readUpTo !== this.size) return false;
      await this.fh.truncate(0);
      await this.fh.datasync();
      this.size = 0;
      return true;
    });
  }

  async close(): Promise<void> {
    await this.runExclusive(async () => undefined);
    await this.fh.close();
    this.unlock();
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    const bytes = batch.length === 1 ? batch[0].bytes : Buffer.concat(batch.map((a) => a.bytes));
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, written, bytes.length - written, this.size + written);
        written += bytesWritten;
      }
      await this.fh.datasync();
      this.size += bytes.length;
      for (const a of batch) a.resolve();
    } catch (err) {
      await this.fh.truncate(this.size).catch(() => undefined);
      for (const a of batch) a.reject(err);
    }
  }

  private runExclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(task, task);
    this.exclusive = run.catch(() => undefined);
    return run;
  }
}

async function endOfLastLine(fh: FileHandle, size: number): Promise<number> {
  let end = size;
  const buf = Buffer.alloc(64 * 1024);
  while (end > 0) {
    const start = Math.max(0, end - buf.length);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (nl !== -1) return start + nl + 1;
    end = start;
  }
  return 0;
}

/** A newly created journal must still be found after a crash: sync its directory entry. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file's own fsyncs still hold.
  }
}
