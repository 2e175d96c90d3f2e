import { access, constants, lstat, open, realpath, stat, unlink } from 'node:fs/promises';
import { temporaryPathFor } from './file-sink.js';
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

/**
 * `name` is how the user gave the path, for the messages (default `--out PATH`; e.g. a request file's File output).
 */
export async function resolveOutputTarget(out: string, inputs: string[] = [], name = `--out ${out}`): Promise<OutputTarget> {
  if (out === '-') return { kind: 'stdout' };
  if (!out.trim()) throw new OutputPathError(`${name}: empty path`);
  let target = resolve(out);
  const existing = await lstat(target).catch(() => null);
  if (existing?.isSymbolicLink()) {
    target = await realpath(target).catch(() => {
      throw new OutputPathError(`${name}: a symlink to a missing file`);
    });
  }
  const real = existing ? await stat(target).catch(() => null) : null;
  if (real?.isDirectory()) throw new OutputPathError(`${name}: is a directory`);
  // The same file whatever the path: compare device and inode (folders may be symlinked), then real paths.
  const targetReal = await realpath(target).catch(async () => join(await realpath(dirname(target)).catch(() => dirname(target)), basename(target)));
  for (const input of inputs) {
    const inputStat = await stat(input).catch(() => null);
    const sameFile = !!(inputStat && real && inputStat.dev === real.dev && inputStat.ino === real.ino);
    const inputReal = await realpath(input).catch(() => resolve(input));
    if (sameFile || inputReal === targetReal) throw new OutputPathError(`${name}: is the input image; refusing to overwrite it`);
  }
  if (real && !real.isFile()) {
    await access(target, constants.W_OK).catch(() => {
      throw new OutputPathError(`${name}: not writable`);
    });
    return { kind: 'direct', path: target };
  }
  const dir = dirname(target);
  const dirStat = await stat(dir).catch(() => null);
  if (!dirStat) throw new OutputPathError(`${name}: folder ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw new OutputPathError(`${name}: ${dir} is not a folder`);
  await access(dir, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    throw new OutputPathError(`${name}: folder ${dir} is not writable (${err.code})`);
  });
  // access() says yes to root everywhere (even /sys, /proc): create and remove the very temporary file the output
  // will be written to, so a folder that refuses it fails now, not after the last tile.
  const probe = temporaryPathFor(target);
  try {
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  } catch (err) {
    throw new OutputPathError(`${name}: cannot create a file in folder ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return { kind: 'file', path: target };
}
