import { Worker } from 'node:worker_threads';

export type Encoding = 'o200k_base' | 'cl100k_base';

/** Counts tokens off the event loop. Always answers: past its bounds it falls back to UTF-8 bytes / 4. */
export interface TokenCounter {
  /** Tokens in `texts` under `encoding`; `exact` is false when some or all of them were counted as bytes / 4. */
  count(encoding: Encoding, texts: string[]): Promise<{ tokens: number; exact: boolean }>;
  /** Whether the worker is running: it starts with the first count that needs it. */
  readonly started: boolean;
  close(): Promise<void>;
}

export interface TokenCounterLimits {
  /** Characters counted with the tokenizer per request; the rest count as bytes / 4. */
  maxChars: number;
  /** From the moment a count is asked for: past this it is answered with bytes / 4 (and a busy worker replaced). */
  timeoutMs: number;
  /** Counts waiting for the worker; one more is answered with bytes / 4 at once. */
  maxQueued: number;
}

export const DEFAULT_COUNTER_LIMITS: TokenCounterLimits = { maxChars: 1_000_000, timeoutMs: 2_000, maxQueued: 64 };

/** The cheap count used beyond the bounds: about four bytes of text per token. */
const bytesOverFour = (texts: string[]): number => {
  let bytes = 0;
  for (const t of texts) bytes += Buffer.byteLength(t, 'utf8');
  return Math.ceil(bytes / 4);
};

/**
 * The worker's program. It is sent as source text (`eval`), not loaded from a
 * file, so that it runs alike from the compiled proxy and from the TypeScript
 * sources under test; it must therefore stay self-contained plain JavaScript.
 * `load` is `import()` written outside it, where no test transform rewrites it.
 */
function workerProgram(load: (url: string) => Promise<unknown>): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const port = parentPort as import('node:worker_threads').MessagePort;
  const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
  // The BPE merge is quadratic in the length of one pre-token: a 64 KB run of one letter took seconds.
  // Runs longer than this are counted in slices of it, which changes a count by at most a token per slice.
  const SLICE = 256;
  const LONG_RUN = /\S{257,}|\s{257,}/g;
  type Count = (text: string) => number;
  const urls = workerData.encodings as Record<string, string>;
  const encoders: Record<string, Promise<Count>> = {};
  const encoder = (name: string): Promise<Count> =>
    (encoders[name] ??= (load(urls[name]) as Promise<{ countTokens: (t: string, o: unknown) => number }>).then(
      (mod) => (text: string) => mod.countTokens(text, PLAIN_TEXT),
    ));
  port.on('message', async (msg: { id: number; encoding: string; texts: string[] }) => {
    const count = await encoder(msg.encoding);
    let tokens = 0;
    for (const text of msg.texts) {
      let from = 0;
      for (const run of text.matchAll(LONG_RUN)) {
        const at = run.index ?? 0;
        if (at > from) tokens += count(text.slice(from, at));
        for (let i = 0; i < run[0].length; i += SLICE) tokens += count(run[0].slice(i, i + SLICE));
        from = at + run[0].length;
      }
      if (from < text.length) tokens += count(from === 0 ? text : text.slice(from));
    }
    port.postMessage({ id: msg.id, tokens });
  });
}

interface Pending {
  id: number;
  encoding: Encoding;
  texts: string[];
  overflowTokens: number;
  resolve: (r: { tokens: number; exact: boolean }) => void;
  timer: NodeJS.Timeout;
}

/**
 * One worker thread holding both tokenizers. Counts are served one at a time
 * in arrival order; a count that outlives its deadline is answered with
 * bytes / 4 and, if the worker is busy with it, the worker is replaced.
 *
 * The worker, and each tokenizer in it, starts with the first count that needs
 * it (about 0.2 s), not at start-up: a tokenizer holds about 60 MB, and a proxy
 * whose upstream always reports usage (and that enforces no budget) never needs one.
 */
export function createTokenCounter(limits: TokenCounterLimits = DEFAULT_COUNTER_LIMITS): TokenCounter {
  const encodings = {
    o200k_base: import.meta.resolve('gpt-tokenizer/encoding/o200k_base'),
    cl100k_base: import.meta.resolve('gpt-tokenizer/encoding/cl100k_base'),
  };
  const queue: Pending[] = [];
  let running: Pending | undefined;
  let nextId = 1;
  let closed = false;
  let worker: Worker | undefined;

  const spawn = (): Worker => {
    const w = new Worker(`(${workerProgram.toString()})((url) => import(url))`, { eval: true, workerData: { encodings } });
    // The worker never keeps the process alive by itself.
    w.unref();
    w.on('message', (msg: { id: number; tokens: number }) => {
      if (running && msg.id === running.id) finish(running, running.overflowTokens + msg.tokens, running.overflowTokens === 0);
    });
    w.on('error', () => {
      // A worker that died answers its count with the fallback; the next count starts a new one.
      if (worker === w) worker = undefined;
      if (running) finish(running, bytesOverFour(running.texts) + running.overflowTokens, false);
    });
    return w;
  };

  const finish = (p: Pending, tokens: number, exact: boolean) => {
    clearTimeout(p.timer);
    const i = queue.indexOf(p);
    if (i !== -1) queue.splice(i, 1);
    if (running === p) running = undefined;
    p.resolve({ tokens, exact });
    next();
  };

  const next = () => {
    if (running || closed || queue.length === 0) return;
    const p = queue.shift() as Pending;
    running = p;
    worker ??= spawn();
    worker.postMessage({ id: p.id, encoding: p.encoding, texts: p.texts });
  };

  const expire = (p: Pending) => {
    if (running === p) {
      // Still counting after its deadline: stop it, so that the counts behind it do not wait as well.
      void worker?.terminate();
      worker = undefined;
    }
    finish(p, bytesOverFour(p.texts) + p.overflowTokens, false);
  };

  return {
    get started() {
      return worker !== undefined;
    },
    count(encoding, texts) {
      const { within, beyond } = splitAtChars(texts, limits.maxChars);
      const overflowTokens = bytesOverFour(beyond);
      if (within.every((t) => t.length === 0)) return Promise.resolve({ tokens: overflowTokens, exact: beyond.length === 0 });
      if (closed || queue.length >= limits.maxQueued) return Promise.resolve({ tokens: bytesOverFour(within) + overflowTokens, exact: false });
      return new Promise((resolve) => {
        const p: Pending = { id: nextId++, encoding, texts: within, overflowTokens, resolve, timer: undefined as unknown as NodeJS.Timeout };
        p.timer = setTimeout(() => expire(p), limits.timeoutMs);
        p.timer.unref();
        queue.push(p);
        next();
      });
    },
    async close() {
      closed = true;
      for (const p of [...(running ? [running] : []), ...queue]) finish(p, bytesOverFour(p.texts) + p.overflowTokens, false);
      await worker?.terminate();
    },
  };
}

/** The first `maxChars` characters of `texts`, and the rest. */
function splitAtChars(texts: string[], maxChars: number): { within: string[]; beyond: string[] } {
  const within: string[] = [];
  const beyond: string[] = [];
  let room = maxChars;
  for (const t of texts) {
    if (room >= t.length) {
      within.push(t);
      room -= t.length;
    } else if (room > 0) {
      within.push(t.slice(0, room));
      beyond.push(t.slice(room));
      room = 0;
    } else beyond.push(t);
  }
  return { within, beyond };
}
