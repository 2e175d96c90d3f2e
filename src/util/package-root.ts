import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The repository/package root, found by walking up from this module. The same code runs from `src/` (vitest) and
 * from `dist/src/` (the CLI and workers), so paths to `dist/workers` and `native/` are resolved from the root.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the tessera package root (package.json next to native/)');
    dir = parent;
  }
}
