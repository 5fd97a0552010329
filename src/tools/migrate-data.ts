import { runMigrateData } from './migrate-data-cli.js';

// `npm run migrate-data -- --from <database> --to <database>`; see migrate-data-cli.ts.
process.exitCode = await runMigrateData(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
