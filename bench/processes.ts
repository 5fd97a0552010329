import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync, closeSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Child processes of the bench (servers and load clients), with the /proc
 * readings the figures come from. Every process started here is stopped when
 * the bench exits, however it exits.
 */
const running = new Set<ChildProcess>();

export function stopAllOnExit(): void {
  const stopAll = () => {
    for (const child of running) child.kill('SIGKILL');
  };
  process.on('exit', stopAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopAll();
      process.exit(130);
    });
  }
}

/** `taskset -c CPUS` in front of a command when pinning is asked for and taskset exists. */
function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  if (!cpus || !existsSync('/usr/bin/taskset')) return [command, args];
  // taskset execs the command, so the pid stays the command's own.
  return ['/usr/bin/taskset', ['-c', cpus, command, ...args]];
}

export interface Server {
  pid: number;
  port: number;
  child: ChildProcess;
  logPath: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts a long-running server with its output in `logPath` (not a pipe: a
 * busy proxy must not be slowed by the bench reading its log), and waits
 * until `ready()` says it answers.
 */
export async function startServer(opts: {
  name: string;
  command: string;
  args: string[];
  port: number;
  /**
   * For a server started on port 0: where its log names the port it took.
   * A port picked beforehand by freePort() can be taken by another process in
   * the meantime (test files run in parallel), and then `ready()` would hear
   * that other process answer.
   */
  portFromLog?: RegExp;
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  cpus?: string;
  ready: (port: number) => Promise<boolean>;
  timeoutMs?: number;
}): Promise<Server> {
  const log = openSync(opts.logPath, 'a');
  const [command, args] = pinned(opts.cpus, opts.command, opts.args);
  const child = spawn(command, args, { stdio: ['ignore', log, log], env: opts.env ?? process.env, cwd: opts.cwd });
  closeSync(log);
  running.add(child);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    running.delete(child);
    exited = `exited with ${signal ?? code}`;
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let port = opts.portFromLog ? undefined : opts.port;
  for (;;) {
    if (exited) throw new Error(`${opts.name} ${exited} before it was ready; its log: ${tail(opts.logPath)}`);
    if (port === undefined && opts.portFromLog) {
      const named = opts.portFromLog.exec(tail(opts.logPath, Number.POSITIVE_INFINITY))?.[1];
      if (named !== undefined) port = Number(named);
    }
    if (port !== undefined && (await opts.ready(port).catch(() => false))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.name} did not answer within ${opts.timeoutMs ?? 30_000} ms; its log: ${tail(opts.logPath)}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid!,
    port,
    child,
    logPath: opts.logPath,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

function tail(path: string, chars = 2000): string {
  try {
    return readFileSync(path, 'utf8').slice(-chars);
  } catch {
    return '(no log)';
  }
}

/** Runs a short-lived process and returns what it printed on stdout, failing on a non-zero exit. */
export async function runToCompletion(command: string, args: string[], opts: { cpus?: string; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const [cmd, argv] = pinned(opts.cpus, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  running.delete(child);
  if (code !== 0) throw new Error(`${command} ${args.slice(0, 2).join(' ')} exited with ${code}: ${err.slice(-2000)}`);
  return out;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far, in ms (from /proc/PID/stat; 10 ms steps). */
function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** A process and its descendants (the workers of a proxy with server.workers > 1), from /proc/PID/task/TID/children. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (children) out.push(...children.split(' ').map(Number));
      } catch {
        // The task ended meanwhile.
      }
    }
  }
  return out;
}

/** CPU time of a process and its descendants alive now, in ms. */
export function treeCpuTimeMs(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + cpuTimeMs(p);
    } catch {
      return sum;
    }
  }, 0);
}

/** Resident memory now and at its peak (VmRSS, VmHWM), in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Peak resident memory of a process and its descendants: each one's peak (VmHWM), summed, in MB. */
export function treePeakMb(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + memoryMb(p).peak;
    } catch {
      return sum;
    }
  }, 0);
}

export interface RssDuring<T> {
  result: T;
  beforeMb: number;
  peakMb: number;
  /** Highest RSS in the first and in the second half of the work's duration: flat memory means no growth between them. */
  firstHalfPeakMb: number;
  secondHalfPeakMb: number;
}

/** Samples a process's RSS while `work` runs. */
export async function rssDuring<T>(pid: number, work: Promise<T>, everyMs = 20): Promise<RssDuring<T>> {
  const beforeMb = memoryMb(pid).rss;
  const samples: { at: number; mb: number }[] = [];
  const started = Date.now();
  let done = false;
  const sampling = (async () => {
    while (!done) {
      samples.push({ at: Date.now() - started, mb: memoryMb(pid).rss });
      await sleep(everyMs);
    }
  })();
  let result: T;
  try {
    result = await work;
  } finally {
    done = true;
    await sampling;
  }
  const half = (Date.now() - started) / 2;
  const peak = (list: { mb: number }[]) => Math.max(beforeMb, ...list.map((s) => s.mb));
  return {
    result,
    beforeMb,
    peakMb: peak(samples),
    firstHalfPeakMb: peak(samples.filter((s) => s.at < half)),
    secondHalfPeakMb: peak(samples.filter((s) => s.at >= half)),
  };
}
