import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../src/config/keys.js';
import { builtProxyMain } from './support/built-proxy.js';

const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

/**
 * `npm pack` of the package as `npm run build` builds it, installed the way npm installs it: the tarball unpacked
 * into node_modules/openai-api-proxy and its command linked into node_modules/.bin. The dependencies are the
 * checkout's own (a symlinked node_modules), which spares a registry download and a native build of better-sqlite3.
 */
function installPackedTarball(work: string): string {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of ['package.json', 'README.md', 'bin']) cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
  // The test build, not the checkout's dist/, which test runs never touch; its package.json stub stays behind.
  cpSync(dirname(builtProxyMain()), join(stage, 'dist'), { recursive: true, filter: (src) => !src.endsWith('/package.json') });
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: stage, stdio: 'pipe' });
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  rmSync(stage, { recursive: true });

  const installed = join(work, 'prefix', 'node_modules', 'openai-api-proxy');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  symlinkSync(join(ROOT, 'node_modules'), join(installed, 'node_modules'));
  const binDir = join(work, 'prefix', 'node_modules', '.bin');
  mkdirSync(binDir);
  const command = join(binDir, 'openai-api-proxy');
  symlinkSync(join('..', 'openai-api-proxy', pkg.bin['openai-api-proxy']), command);
  chmodSync(command, 0o755);
  return command;
}

describe.skipIf(!process.env.OAP_LONG_TESTS)('the openai-api-proxy command of the packed tarball', () => {
  let work: string;
  let command: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'oap-packed-'));
    command = installPackedTarball(work);
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const run = (args: string[]) =>
    promisify(execFile)(command, args, { cwd: tmpdir(), env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } });

  it('prints the package version for --version', async () => {
    expect((await run(['--version'])).stdout).toBe(`${pkg.version}\n`);
  });

  it('lists every setting of the key table for --help', async () => {
    const { stdout } = await run(['--help']);
    for (const key of Object.keys(CONFIG_KEYS)) expect(stdout).toContain(`  --${key}=`);
  });
});
