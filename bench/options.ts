/** What `npm run bench -- [flags]` was asked to do, with the sizes of each mode. */
export interface BenchOptions {
  mode: 'full' | 'quick' | 'tiny';
  peers: boolean;
  /** Pin the proxy (or peer) to CPU 0 and the stand-in and load generator to CPU 1. */
  pin: boolean;
  /** Write the proxy's CPU profile (node --cpu-prof) next to the results. */
  profile: boolean;
  outDir: string;
  /** Alternating direct / proxied rounds per figure; medians are taken over them. */
  rounds: number;
  throughputSeconds: number;
  sequentialCalls: number;
  streamCalls: number;
  /** A sequential or streaming run also stops after this long (a slow peer would stretch it). */
  sequentialSeconds: number;
  streamChunks: number;
  bigStreamMb: number;
  recordSeconds: number;
  historySizes: number[];
  /** Calls in flight at once in the second PostgreSQL recording run (one pooled connection each). */
  recordConcurrency: number;
  /** Size of the generated PostgreSQL history the /usage reads are timed on. */
  postgresHistoryRows: number;
  /** Journal lines replayed into PostgreSQL while calls keep being recorded. */
  postgresReplayRows: number;
  /** History of one model re-priced while calls of that model are timed. */
  postgresRepriceRows: number;
}

const MODES = {
  full: {
    rounds: 5,
    throughputSeconds: 5,
    sequentialCalls: 3000,
    streamCalls: 1000,
    sequentialSeconds: 8,
    streamChunks: 20,
    bigStreamMb: 100,
    recordSeconds: 5,
    historySizes: [1_000_000, 10_000_000],
    recordConcurrency: 16,
    postgresHistoryRows: 1_000_000,
    postgresReplayRows: 20_000,
    postgresRepriceRows: 150_000,
  },
  quick: {
    rounds: 3,
    throughputSeconds: 2,
    sequentialCalls: 800,
    streamCalls: 200,
    sequentialSeconds: 2,
    streamChunks: 20,
    bigStreamMb: 100,
    recordSeconds: 1,
    historySizes: [1_000_000],
    recordConcurrency: 16,
    postgresHistoryRows: 100_000,
    postgresReplayRows: 10_000,
    postgresRepriceRows: 150_000,
  },
  // For the smoke test: every phase runs, on sizes too small to mean anything.
  tiny: {
    rounds: 1,
    throughputSeconds: 1,
    sequentialCalls: 50,
    streamCalls: 20,
    sequentialSeconds: 2,
    streamChunks: 5,
    bigStreamMb: 2,
    recordSeconds: 0.5,
    historySizes: [2_000, 5_000],
    recordConcurrency: 16,
    postgresHistoryRows: 2_000,
    postgresReplayRows: 500,
    postgresRepriceRows: 2_000,
  },
};

export const USAGE = `npm run bench -- [--quick] [--peers] [--pin] [--profile] [--out=DIR] [--rows=N,N]
  --quick    short runs, a 1M-query SQLite history and a 100k-query PostgreSQL one (a few minutes with the build)
  --tiny     every phase on sizes too small to mean anything (the smoke test)
  --peers    also install @portkey-ai/gateway into a temporary folder and run the same load through it
  --pin      pin the server under test to CPU 0, the stand-in and load generator to CPU 1 (taskset)
  --profile  write the proxy's CPU profile (node --cpu-prof) into the results folder
  --out=DIR  where results go (default bench/results)
  --rows=N,N sizes of the generated histories for the /usage and /queries timings
  --postgres-rows=N  size of the generated PostgreSQL history (default 1M; 100k with --quick)`;

export function parseOptions(argv: string[]): BenchOptions {
  const flags = new Map<string, string | true>();
  for (const arg of argv) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    flags.set(m[1], m[2] ?? true);
  }
  const known = ['quick', 'tiny', 'peers', 'pin', 'profile', 'out', 'rows', 'postgres-rows', 'help'];
  for (const name of flags.keys()) if (!known.includes(name)) throw new Error(`unknown flag --${name}\n${USAGE}`);
  const mode = flags.has('tiny') ? 'tiny' : flags.has('quick') ? 'quick' : 'full';
  const rows = flags.get('rows');
  const historySizes = typeof rows === 'string' ? rows.split(',').map((n) => Number(n.replace(/_/g, ''))) : MODES[mode].historySizes;
  if (historySizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--rows takes whole numbers, such as --rows=1000000,10000000`);
  const pgRows = flags.get('postgres-rows');
  const postgresHistoryRows = typeof pgRows === 'string' ? Number(pgRows.replace(/_/g, '')) : MODES[mode].postgresHistoryRows;
  if (!Number.isInteger(postgresHistoryRows) || postgresHistoryRows < 1)
    throw new Error('--postgres-rows takes a whole number, such as --postgres-rows=1000000');
  return {
    mode,
    peers: flags.has('peers'),
    pin: flags.has('pin'),
    profile: flags.has('profile'),
    outDir: typeof flags.get('out') === 'string' ? (flags.get('out') as string) : 'bench/results',
    ...MODES[mode],
    historySizes,
    postgresHistoryRows,
  };
}
