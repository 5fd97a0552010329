import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'openai-api-proxy';

export interface PackageInfo {
  version: string;
  description: string;
}

/**
 * This package's package.json, found by walking up from this module: dist/config/ in a checkout, the same inside an
 * installed tarball, and a build cache below node_modules in tests (whose own package.json stub is passed over).
 */
export function readPackageInfo(from: string = import.meta.url): PackageInfo {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string; description?: string };
      if (pkg.name === PACKAGE_NAME && pkg.version) return { version: pkg.version, description: pkg.description ?? '' };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${fileURLToPath(from)}`);
    dir = parent;
  }
}
