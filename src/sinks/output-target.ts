import { access, constants, lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Where a local GeoJSON output goes, decided and checked before any tile is processed, so a bad output path fails
 * in a second instead of after hours of inference:
 * - `-`: standard output (streamed, no temporary file);
 * - an existing device, FIFO or socket (e.g. /dev/null): written directly — renaming over it would replace the
 *   device with a regular file;
 * - a symlink: the file it points to is replaced, the link is kept;
 * - otherwise a regular file, written to a temporary file beside it and renamed into place when complete.
 * The output may never be one of the inputs.
 */
export type OutputTarget = { kind: 'stdout' } | { kind: 'direct'; path: string } | { kind: 'file'; path: string };

export class OutputPathError extends Error {}

export async function resolveOutputTarget(out: string, inputs: string[] = []): Promise<OutputTarget> {
  if (out === '-') return { kind: 'stdout' };
  if (!out.trim()) throw new OutputPathError('--out: empty path');
  let target = resolve(out);
  const existing = await lstat(target).catch(() => null);
  if (existing?.isSymbolicLink()) {
    target = await realpath(target).catch(() => {
      throw new OutputPathError(`--out ${out}: a symlink to a missing file`);
    });
  }
  const real = existing ? await stat(target).catch(() => null) : null;
  if (real?.isDirectory()) throw new OutputPathError(`--out ${out}: is a directory`);
  // The same file whatever the path: compare device and inode (folders may be symlinked), then real paths.
  const targetReal = await realpath(target).catch(async () => join(await realpath(dirname(target)).catch(() => dirname(target)), basename(target)));
  for (const input of inputs) {
    const inputStat = await stat(input).catch(() => null);
    const sameFile = !!(inputStat && real && inputStat.dev === real.dev && inputStat.ino === real.ino);
    const inputReal = await realpath(input).catch(() => resolve(input));
    if (sameFile || inputReal === targetReal) throw new OutputPathError(`--out ${out}: is the input image; refusing to overwrite it`);
  }
  if (real && !real.isFile()) {
    await access(target, constants.W_OK).catch(() => {
      throw new OutputPathError(`--out ${out}: not writable`);
    });
    return { kind: 'direct', path: target };
  }
  const dir = dirname(target);
  const dirStat = await stat(dir).catch(() => null);
  if (!dirStat) throw new OutputPathError(`--out ${out}: folder ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw new OutputPathError(`--out ${out}: ${dir} is not a folder`);
  await access(dir, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    throw new OutputPathError(`--out ${out}: folder ${dir} is not writable (${err.code})`);
  });
  return { kind: 'file', path: target };
}
