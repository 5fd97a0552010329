import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtProxyMain } from './built-proxy.js';

export interface ChildProxy {
  url: string;
  pid: number;
  /** Every line the proxy wrote to stdout and stderr. */
  logs: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRssBytes(): number;
  /** User plus system CPU time so far, in milliseconds. */
  cpuMs(): number;
}

/** The built proxy (`node dist/main.js`) as a child process, started with the given flags; resolves once it listens. */
export async function startChildProxy(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<ChildProxy> {
  const main = builtProxyMain();
  const child: ChildProcess = spawn(process.execPath, [main, '--server.port=0', ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (line.includes('openai-api-proxy listening')) resolve(JSON.parse(line).url);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`the proxy exited (${code}) before listening:\n${logs.join('\n')}`)));
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    logs,
    exited,
    kill: (signal) => child.kill(signal),
    peakRssBytes: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024,
    cpuMs: () => {
      // Fields 14 and 15 of /proc/PID/stat (after the command name in parentheses): utime and stime in clock ticks.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    },
  };
}
