/**
 * The two reference measurements of `npm run bench`, on the same fixture and tiles as the pipeline:
 * - limit: the same reads, conversions (the pipeline's own choice, from prepareImage) and encodes with no hand-off,
 *   no HTTP and no JavaScript per pixel — one process per core, each a plain loop (GDAL read, native convert,
 *   native encode) over a contiguous run of tile rows;
 * - osml: OSML's tile factory: one gdal.translate per tile into an in-memory file in the tile format, read back,
 *   then the same HTTP call (the translate loop is serial on one thread, model calls overlap, as OSML's workers do).
 */
import { availableParallelism } from 'node:os';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import gdal from 'gdal-async';
import { request, Agent } from 'undici';
import { planTiling, allTiles, type Window } from '../src/tiling/index.js';
import { encodeJpeg, encodePng, outputBytesPerSample } from '../src/pixels/native.js';
import { convertAnyBands } from '../src/pixels/convert-bands.js';
import { prepareImage, type ImageJob } from '../src/pipeline/run-image.js';
import type { PixelConversion } from '../src/pipeline/tile-task.js';
import { describeRaster, type RasterInfo } from '../src/raster/raster-source.js';
import { bytesPerSample, typedView } from '../src/pixels/data-type.js';
import { applyGdalConfig } from '../src/raster/gdal-config.js';
import { tileRows } from '../src/pipeline/process-tiles.js';

export interface ModeResult {
  tiles: number;
  seconds: number;
  tilesPerSecond: number;
  /** CPU time per tile over every process and thread of the mode (the limit: its children's loops). */
  cpuMsPerTile?: number;
}

function tilesOf(info: RasterInfo, tile: number, overlap: number): Window[] {
  const plan = planTiling({ bounds: { x: 0, y: 0, width: info.width, height: info.height }, tileSize: { width: tile, height: tile }, overlap: { width: overlap, height: overlap }, regionSize: { width: 10240, height: 10240 } });
  return allTiles(plan);
}

/** The machine's limit: `cores` processes, each a tight read → convert → encode loop over every cores-th tile. */
export async function runLimit(image: string, tile: number, overlap: number, format: 'JPEG' | 'PNG'): Promise<ModeResult> {
  const cores = availableParallelism();
  // The pipeline's own decision for this image and format (bands, output type, stretch): the same conversion.
  const { conversion } = await prepareImage(benchJob(image, tile, overlap, format, 'http://127.0.0.1:1/invocations'));
  // Each child times its own loop (process start-up and GDAL/native loading excluded); children run at once.
  const children = await Promise.all(
    Array.from({ length: cores }, (_, k) =>
      new Promise<{ count: number; loopMs: number; cpuMs: number }>((resolve, reject) => {
        const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'limit-child', image, String(tile), String(overlap), format, String(k), String(cores), JSON.stringify(conversion)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`limit child ${k} exited ${code}`))));
      }),
    ),
  );
  const seconds = Math.max(...children.map((c) => c.loopMs)) / 1000;
  const tiles = children.reduce((a, c) => a + c.count, 0);
  return { tiles, seconds, tilesPerSecond: tiles / seconds, cpuMsPerTile: children.reduce((a, c) => a + c.cpuMs, 0) / tiles };
}

async function limitChild(image: string, tile: number, overlap: number, format: 'JPEG' | 'PNG', k: number, of: number, conversion: PixelConversion) {
  applyGdalConfig();
  const info = await describeRaster(image);
  const ds = gdal.open(info.gdalPath);
  const bps = bytesPerSample(info.dataType);
  const outBytes = outputBytesPerSample(conversion);
  // A contiguous run of tile rows per process, as the pipeline gives each GDAL handle (process-tiles.ts RowPlan).
  const rows = tileRows(tilesOf(info, tile, overlap));
  const mine = rows.slice(Math.floor((k * rows.length) / of), Math.floor(((k + 1) * rows.length) / of)).flat();
  const src = new Uint8Array(tile * tile * info.bandCount * bps);
  const out = new Uint8Array(tile * tile * conversion.bands.length * outBytes);
  const channels = conversion.bands.length as 1 | 3;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const w of mine) {
    const plane = w.width * w.height;
    for (let b = 0; b < info.bandCount; b++) ds.bands.get(b + 1).pixels.read(w.x, w.y, w.width, w.height, typedView(info.dataType, src.buffer, b * plane * bps, plane));
    const px = convertAnyBands(src.subarray(0, plane * info.bandCount * bps), { width: w.width, height: w.height, ...conversion }, out);
    if (format === 'JPEG') encodeJpeg(px, w.width, w.height, channels, 90);
    else encodePng(px, w.width, w.height, channels, outBytes === 1 ? 8 : 16);
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ count: mine.length, loopMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
}

/** The job the bench's pipeline runs (case.ts): the limit takes its conversion from it. */
export function benchJob(image: string, tile: number, overlap: number, format: 'JPEG' | 'PNG', url: string): ImageJob {
  return {
    jobId: 'bench',
    image,
    detector: { kind: 'http', url, timeoutMs: 60_000, maxRetries: 2 },
    tileSize: tile,
    overlap,
    regionSize: 10240,
    strategy: 'variable-overlap',
    // The loopback model has no payload limit (2048² PNG tiles exceed SageMaker's 6 MB).
    encoding: { format, compression: 'NONE', quality: 90, maxPayloadBytes: 0 },
    distillation: { algorithm: 'NMS', iouThreshold: 0.75 },
    featureProperties: [],
  };
}

/** OSML's way: gdal.translate per tile into /vsimem in the tile format, read back, POST it. */
export async function runOsmlWay(image: string, tile: number, overlap: number, format: 'JPEG' | 'PNG', url: string, concurrency = 16): Promise<ModeResult> {
  applyGdalConfig();
  const info = await describeRaster(image);
  const ds = await gdal.openAsync(info.gdalPath);
  const tiles = tilesOf(info, tile, overlap);
  const agent = new Agent({ connections: concurrency });
  const bandArgs = info.bandCount >= 3 ? ['-b', '1', '-b', '2', '-b', '3'] : ['-b', '1'];
  // OSML sends the source type: PNG carries 16 bits as they are; 16-bit JPEG fails there, so give GDAL a plain
  // linear scaling to bytes for it (-ot Byte -scale), the cheapest stand-in for the pipeline's DRA.
  const scaleArgs = info.dataType === 'Byte' || (format === 'PNG' && info.dataType === 'UInt16') ? [] : ['-ot', 'Byte', '-scale'];
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let n = 0;
  for (const w of tiles) {
    const path = `/vsimem/osml-${n++}.${format === 'JPEG' ? 'jpg' : 'png'}`;
    const out = await gdal.translateAsync(path, ds, ['-of', format, '-srcwin', String(w.x), String(w.y), String(w.width), String(w.height), ...bandArgs, ...scaleArgs]);
    out.close();
    const bytes = gdal.vsimem.release(path);
    const call = request(url, { method: 'POST', body: bytes, dispatcher: agent, headers: { 'content-type': 'application/octet-stream' } })
      .then((r) => r.body.text())
      .then(() => undefined);
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await agent.close();
  const seconds = (performance.now() - t0) / 1000;
  return { tiles: tiles.length, seconds, tilesPerSecond: tiles.length / seconds };
}

if (process.argv[2] === 'limit-child') {
  const [, , , image, tile, overlap, format, k, of, conversion] = process.argv;
  await limitChild(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG', Number(k), Number(of), JSON.parse(conversion) as PixelConversion);
}
