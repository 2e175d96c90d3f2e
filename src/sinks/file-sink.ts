import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { once } from 'node:events';
import type { Feature } from '../features/geojson.js';

/**
 * Writes a FeatureCollection to a local file, streaming one feature at a time, into a temporary file beside the
 * target that is renamed over it only when complete: a failed run never leaves a truncated file in place of a good one.
 * `extra` members (RFC 7946 foreign members) go after `features`.
 */
export async function writeFeatureCollection(path: string, features: Iterable<Feature>, extra: Record<string, unknown> = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx' });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  const write = async (chunk: string) => {
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  try {
    await write('{"type": "FeatureCollection", "features": [');
    let first = true;
    for (const f of features) {
      await write((first ? '\n' : ',\n') + JSON.stringify(f));
      first = false;
    }
    await write('\n]');
    for (const [k, v] of Object.entries(extra)) await write(`,\n${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    await write('}\n');
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
    await rename(tmp, path);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    throw new Error(`writing ${path} failed: ${(err as Error).message}`);
  }
}
