import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'oap-built-proxy');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * The proxy compiled as `npm run build` compiles it, for tests that must run
 * the real thing as a child process (kill -9, SIGTERM, load). Built once per
 * version of the sources, into node_modules/.cache, so that test files running
 * side by side neither rebuild it nor touch the user's dist/.
 */
export function builtProxyMain(): string {
  const hash = createHash('sha256');
  for (const file of [...sourceFiles(join(ROOT, 'src')).sort(), join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json')]) {
    hash.update(relative(ROOT, file)).update(readFileSync(file));
  }
  const out = join(CACHE, hash.digest('hex').slice(0, 16));
  const main = join(out, 'main.js');
  if (existsSync(main)) return main;

  mkdirSync(CACHE, { recursive: true });
  const building = `${out}.building-${process.pid}`;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', building], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  // Inside node_modules Node looks no further up for "type": "module".
  writeFileSync(join(building, 'package.json'), '{"type":"module"}\n');
  try {
    renameSync(building, out);
  } catch {
    // Another test file finished the same build first.
    rmSync(building, { recursive: true, force: true });
  }
  return main;
}
