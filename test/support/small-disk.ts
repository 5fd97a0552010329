import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A real small filesystem (tmpfs, needs root) that a test can fill up to the
 * last byte and free again: the disk-full fault, without mocks. Tests run as
 * root, so file permissions cannot simulate a failing disk.
 */
export class SmallDisk {
  private constructor(readonly dir: string) {}

  /** Undefined where mounting is not allowed (not root); CI (OAP_LONG_TESTS) insists. */
  static mount(dir: string, size = '2m'): SmallDisk | undefined {
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
      if (process.env.OAP_LONG_TESTS) throw new Error(`cannot mount a tmpfs for the disk-full tests (run as root): ${String(err)}`);
      console.warn(`SKIPPED: disk-full tests need to mount a tmpfs (root): ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
    return new SmallDisk(dir);
  }

  /** Writes a filler file until the filesystem has no byte left. */
  fill(): void {
    const fd = openSync(join(this.dir, 'filler'), 'a');
    const block = Buffer.alloc(4096, 0x78);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      // The last partial block, byte by byte, so not even a short line fits.
      try {
        for (;;) writeSync(fd, block, 0, 1);
      } catch {
        // Full.
      }
    } finally {
      closeSync(fd);
    }
  }

  free(): void {
    rmSync(join(this.dir, 'filler'), { force: true });
  }

  unmount(): void {
    execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
  }
}
