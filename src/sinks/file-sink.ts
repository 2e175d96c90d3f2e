import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Feature } from '../features/geojson.js';
import { registerTemporary } from '../util/temporary-files.js';

/**
 * Writes a FeatureCollection to a local file, streaming one feature at a time, into a temporary file beside the
 * target that is renamed over it only when complete: a failed run never leaves a truncated file in place of a good one.
 * `extra` members (RFC 7946 foreign members) go after `features`; given as a function, it is asked for once the
 * features are written (so it can report on them).
 */
export type FeatureStream = Iterable<Feature> | AsyncIterable<Feature>;
export type ExtraMembers = Record<string, unknown> | (() => Record<string, unknown>);

/** The hidden temporary file beside `path` that an output is written to before it is renamed into place. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

export async function writeFeatureCollection(path: string, features: FeatureStream, extra: ExtraMembers = {}): Promise<void> {
  const tmp = temporaryPathFor(path);
  const written = registerTemporary(tmp);
  try {
    await writeCollection(createWriteStream(tmp, { flags: 'wx' }), features, extra, async () => rename(tmp, path), async () => unlink(tmp).catch(() => undefined), path);
  } finally {
    written();
  }
}

/** Streams straight into a destination that must not be replaced: standard output, a device or a FIFO. */
export async function writeFeatureCollectionTo(destination: 'stdout' | string, features: FeatureStream, extra: ExtraMembers = {}): Promise<void> {
  const stream = destination === 'stdout' ? process.stdout : createWriteStream(destination, { flags: 'w' });
  await writeCollection(stream, features, extra, async () => undefined, async () => undefined, destination === 'stdout' ? 'standard output' : destination);
}

async function writeCollection(out: Writable, features: FeatureStream, extra: ExtraMembers, commit: () => Promise<void>, abandon: () => Promise<void>, name: string): Promise<void> {
  const ownsStream = out !== process.stdout;
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  const write = async (chunk: string) => {
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  try {
    await write('{"type": "FeatureCollection", "features": [');
    let first = true;
    for await (const f of features) {
      await write((first ? '\n' : ',\n') + JSON.stringify(f));
      first = false;
    }
    await write('\n]');
    for (const [k, v] of Object.entries(typeof extra === 'function' ? extra() : extra)) await write(`,\n${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    await write('}\n');
    if (ownsStream) {
      out.end();
      await Promise.race([once(out, 'finish'), failed]);
    }
    await commit();
  } catch (err) {
    if (ownsStream) out.destroy();
    await abandon();
    throw new Error(`writing ${name} failed: ${(err as Error).message}`);
  }
}
