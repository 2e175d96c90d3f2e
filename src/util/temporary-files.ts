import { rmSync } from 'node:fs';

/**
 * Temporary files and folders of this process (an output being written, the features spilled by `tessera run`),
 * removed when the process exits normally and by removeTemporaryFiles() on the way out of a signal, where no
 * 'exit' event comes (the CLI re-raises the signal to die of it).
 */
const temporaries = new Set<string>();
let hooked = false;

/** Registers a path to remove; returns the function that unregisters it (call it once the path is gone or kept). */
export function registerTemporary(path: string): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeTemporaryFiles);
  }
  temporaries.add(path);
  return () => temporaries.delete(path);
}

/** Removes every registered path now (synchronously: safe in a signal handler or on exit). */
export function removeTemporaryFiles(): void {
  for (const path of temporaries) rmSync(path, { recursive: true, force: true });
  temporaries.clear();
}
