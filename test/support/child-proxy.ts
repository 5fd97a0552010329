import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export interface ChildProxy {
  child: ChildProcess;
  url: string;
  output: () => string;
  exit: Promise<number | null>;
}

/** The built proxy as its own process, exactly as `npm start` runs it; resolves once it listens. */
export async function spawnProxy(opts: { cwd: string; env?: Record<string, string>; args?: string[] }): Promise<ChildProxy> {
  const child = spawn(process.execPath, [MAIN, ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${out}`)), 15_000);
    const check = () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`proxy exited during start-up:\n${out}`));
    });
  });
  return { child, url, output: () => out, exit };
}
