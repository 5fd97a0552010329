import { MigrateDataError, copyLedger, type CopyReport } from './copy-ledger.js';
import { errorText } from '../common/error-text.js';

const USAGE = `usage: npm run migrate-data -- --from <database> --to <database> [--append]
   or: openai-api-proxy-migrate-data --from <database> --to <database> [--append]   (installed package)

Copies the ledger (queries, models, prices, rate limits) from one database to another.
A database is an SQLite file (path, sqlite:PATH, file:PATH, jdbc:sqlite:PATH) or a
postgres://user:password@host:5432/db URL. An SQLite --from may also be the original
Java proxy's database; it is read from a copy and never changed.

  --from <database>  where the ledger is now
  --to <database>    where it should go; created if missing, schema created or migrated
  --append           allow a --to that already holds queries or admin prices: its prices
                     are kept where both have one, and every copied query is priced by them
`;

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Args {
  from?: string;
  to?: string;
  append: boolean;
  help: boolean;
}

/** Runs the command; returns the exit code (0 done, 1 refused or failed, 2 bad arguments). */
export async function runMigrateData(argv: string[], io: Output): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.err(`migrate-data: ${errorText(err)}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    io.out(USAGE);
    return 0;
  }
  if (!args.from || !args.to) {
    io.err(`migrate-data: both --from and --to are required\n\n${USAGE}`);
    return 2;
  }
  try {
    const report = await copyLedger({ from: args.from, to: args.to, append: args.append, progress: (line) => io.err(line) });
    for (const line of summarise(report)) io.out(line);
    return 0;
  } catch (err) {
    if (err instanceof MigrateDataError) {
      io.err(`migrate-data: ${err.message}`);
      return 1;
    }
    io.err(`migrate-data: failed, the target's ledger is unchanged: ${errorText(err)}`);
    return 1;
  }
}

function parseArgs(argv: string[]): Args {
  const args: Args = { append: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name === '--help' || name === '-h') args.help = true;
    else if (name === '--append') args.append = true;
    else if (name === '--from' || name === '--to') {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined || value === '') throw new Error(`${name} needs a value`);
      args[name === '--from' ? 'from' : 'to'] = value;
    } else {
      throw new Error(`unknown argument '${arg}'`);
    }
  }
  return args;
}

function summarise(r: CopyReport): string[] {
  const lines: string[] = [];
  if (r.originalImport) {
    lines.push(
      `read the original Java proxy's database: ${r.originalImport.queries} queries, ${r.originalImport.prices} prices, ${r.originalImport.models} models`,
    );
    lines.push(...r.originalImport.warnings);
  }
  lines.push(
    `copied ${r.queries} queries, ${r.prices} prices, ${r.models} new models and ${r.rateLimits} rate limits` +
      (r.pricesKept > 0 ? `; kept the target's own price where both had one (${r.pricesKept})` : ''),
  );
  return lines;
}
