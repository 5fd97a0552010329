import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The source folders, lowest first. A file may import from its own folder or a
 * lower one, never a higher one, so the path of a call reads top to bottom
 * and no two folders depend on each other.
 */
const LAYERS = ['common', 'config', 'http', 'accounting', 'store', 'proxy', 'admin', 'server', 'tools', 'main.ts'];

const SRC = path.resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : name.endsWith('.ts') ? [full] : [];
  });
}

const layerOf = (file: string) => path.relative(SRC, file).split(path.sep)[0];

/** Every relative import of the source tree, as [importing file, imported file]. */
function relativeImports(): Array<[string, string]> {
  const specifier = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  return sourceFiles(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(specifier)].map((m): [string, string] => [
      file,
      path.resolve(path.dirname(file), (m[1] ?? m[2]).replace(/\.js$/, '.ts')),
    ]),
  );
}

describe('source layers', () => {
  it('has every top-level entry of src in the layer order', () => {
    expect(
      readdirSync(SRC)
        .filter((n) => n !== 'README.md')
        .sort(),
    ).toEqual([...LAYERS].sort());
  });

  it('never imports from a higher layer', () => {
    const upward = relativeImports()
      .filter(([from, to]) => LAYERS.indexOf(layerOf(to)) > LAYERS.indexOf(layerOf(from)))
      .map(([from, to]) => `${path.relative(SRC, from)} -> ${path.relative(SRC, to)}`);
    expect(upward).toEqual([]);
  });

  it('has no two folders that import each other, directly or round a loop', () => {
    const edges = new Map<string, Set<string>>();
    for (const [from, to] of relativeImports()) {
      const a = path.relative(SRC, path.dirname(from)) || '.';
      const b = path.relative(SRC, path.dirname(to)) || '.';
      if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
    }
    const loops: string[] = [];
    const reaches = (start: string, target: string, seen = new Set<string>()): boolean =>
      [...(edges.get(start) ?? [])].some((next) => next === target || (!seen.has(next) && (seen.add(next), reaches(next, target, seen))));
    for (const [folder, targets] of edges) {
      for (const target of targets) if (reaches(target, folder)) loops.push(`${folder} -> ${target}`);
    }
    expect(loops).toEqual([]);
  });

  it('finds the imports it checks (the check itself can fail)', () => {
    const imports = relativeImports();
    expect(imports.length).toBeGreaterThan(100);
    expect(imports.some(([from, to]) => layerOf(from) === 'server' && layerOf(to) === 'proxy')).toBe(true);
  });
});
