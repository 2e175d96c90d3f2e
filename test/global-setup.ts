/**
 * One temporary folder per test run: every test file's process gets it as TMPDIR (os.tmpdir()), and so do the
 * processes they start (tessera run, serve), so their temporary images, outputs and spilled features land in it;
 * it is removed when the run ends. Vitest may stop a test file's process without an 'exit' event, and processes
 * killed on purpose (the crash tests) never clean up after themselves: without this, every run left dozens of
 * tessera-* folders in /tmp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-vitest-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
