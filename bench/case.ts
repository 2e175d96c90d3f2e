/**
 * One benchmark case in its own process (so peak RSS belongs to this case alone): the full pipeline — read,
 * convert, encode, HTTP call to the loopback model, refine, geolocate, de-duplicate, write — on one fixture.
 * Usage: node dist/bench/case.js IMAGE TILE OVERLAP FORMAT MODEL_URL [MODE]   MODE: pipeline (default) | limit | osml
 * Prints one JSON line.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { runImage } from '../src/pipeline/run-image.js';
import { writeFeatureCollection } from '../src/sinks/file-sink.js';
import type { TileFormat } from '../src/encoding/tile-encoding.js';
import { runLimit, runOsmlWay } from './reference-modes.js';

const [image, tile, overlap, format, url, mode = 'pipeline'] = process.argv.slice(2);
if (mode !== 'pipeline') {
  const r = mode === 'limit' ? await runLimit(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG') : await runOsmlWay(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG', url);
  process.stdout.write(JSON.stringify({ ...r, peakRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
  process.exit(0);
}
const t0 = performance.now();
const result = await runImage({
  jobId: 'bench',
  image,
  detector: { kind: 'http', url, timeoutMs: 60_000, maxRetries: 2 },
  tileSize: Number(tile),
  overlap: Number(overlap),
  regionSize: 10240,
  strategy: 'variable-overlap',
  // The loopback model has no payload limit (2048² PNG tiles exceed SageMaker's 6 MB).
  encoding: { format: format as TileFormat, compression: 'NONE', quality: 90, maxPayloadBytes: 0 },
  distillation: { algorithm: 'NMS', iouThreshold: 0.75 },
  featureProperties: [],
});
const w0 = performance.now();
const out = join(tmpdir(), `tessera-bench-${process.pid}.geojson`);
await writeFeatureCollection(out, result.features);
unlinkSync(out);
const writeMs = performance.now() - w0;
const seconds = (performance.now() - t0) / 1000;
const megapixels = (result.plan.coveredBounds.width * result.plan.coveredBounds.height) / 1e6;
process.stdout.write(
  JSON.stringify({
    tiles: result.tiles.total,
    failedTiles: result.tiles.failed,
    firstFailure: result.failures[0]?.error,
    seconds,
    tilesPerSecond: result.tiles.total / seconds,
    megapixelsPerSecond: megapixels / seconds,
    stagesMs: { ...result.stats.stages, writeMs },
    mainThreadBusy: result.stats.mainThreadBusy,
    workerUtilization: result.stats.workerUtilization,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    slotPoolMB: result.stats.slotBytes / 2 ** 20,
  }) + '\n',
);
