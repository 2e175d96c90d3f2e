import type { Feature } from '../features/geojson.js';

/**
 * The text of a FeatureCollection, produced piece by piece from a (possibly async) feature stream, in exactly the
 * layout of `writeFeatureCollection` (file-sink.ts): `{"type": "FeatureCollection", "features": [`, one feature
 * per line, `]`, then the extra members. The S3 object and the local file of the same job are byte-identical.
 * Pieces are gathered into chunks of about `chunkBytes` so a consumer (an upload) is not fed one line at a time.
 */
export async function* featureCollectionChunks(
  features: AsyncIterable<Feature> | Iterable<Feature>,
  extra: Record<string, unknown> = {},
  chunkBytes = 256 * 1024,
): AsyncGenerator<Buffer> {
  let pending: string[] = [];
  let size = 0;
  const take = (s: string) => {
    pending.push(s);
    size += s.length;
  };
  const drain = () => {
    const out = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    size = 0;
    return out;
  };
  take('{"type": "FeatureCollection", "features": [');
  let first = true;
  for await (const f of features) {
    take((first ? '\n' : ',\n') + JSON.stringify(f));
    first = false;
    if (size >= chunkBytes) yield drain();
  }
  take('\n]');
  for (const [k, v] of Object.entries(extra)) take(`,\n${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  take('}\n');
  yield drain();
}
