import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { MEMORY_V8_FLAGS } from '../src/util/memory-flags.js';

const root = join(import.meta.dirname, '..');

describe('V8 memory settings of the tessera command', () => {
  test('bin/tessera.js starts node with exactly MEMORY_V8_FLAGS', () => {
    const shebang = readFileSync(join(root, 'bin', 'tessera.js'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${MEMORY_V8_FLAGS.join(' ')}`);
  });

  test('executed directly (as npx and an installed bin run it), the process has them on its command line', () => {
    // A script with the same first line that prints the node options it was started with.
    const dir = mkdtempSync(join(tmpdir(), 'tessera-shebang-'));
    try {
      const probe = join(dir, 'probe.mjs');
      writeFileSync(probe, `${readFileSync(join(root, 'bin', 'tessera.js'), 'utf8').split('\n')[0]}\nprocess.stdout.write(JSON.stringify(process.execArgv));\n`, { mode: 0o755 });
      expect(JSON.parse(execFileSync(probe, { encoding: 'utf8' }))).toEqual([...MEMORY_V8_FLAGS]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
