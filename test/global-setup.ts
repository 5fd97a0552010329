import { execFileSync } from 'node:child_process';

/** Tests that start the real command (`node dist/main.js`) need a fresh build; it is made once per run. */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
