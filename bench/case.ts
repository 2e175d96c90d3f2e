/**
 * One benchmark case in its own process (so peak RSS belongs to this case alone): the full pipeline — read,
 * convert, encode, HTTP call to the loopback model, refine, geolocate, de-duplicate, write — on one fixture.
 * Usage: node dist/bench/case.js IMAGE TILE OVERLAP FORMAT MODEL_URL [MODE]
 * MODE: pipeline (default: the engine, runImage, with per-stage times) | run (what `tessera run` does: the service's
 * handlers on in-process queues and stores, writing the output) | limit | osml | http (the HTTP exchange alone: the
 * model client posting bodies of the pipeline's mean tile size, `IMAGE` is that size in bytes). Prints one JSON line.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { prepareImage, runImage, workerConfigFor, type ImageJob } from '../src/pipeline/run-image.js';
import { processTiles } from '../src/pipeline/process-tiles.js';
import { tilesOfRegion } from '../src/tiling/index.js';
import { TilePool } from '../src/pipeline/tile-pool.js';
import { writeFeatureCollection } from '../src/sinks/file-sink.js';
import { benchJob, runLimit, runOsmlWay } from './reference-modes.js';
import { runLocal } from '../src/service/local-run.js';
import { parseServiceRequest } from '../src/service/image-job.js';
import { LOCAL_RUN_PATHS } from '../src/api/request-paths.js';
import { LocalOutputSink } from '../src/sinks/local-output-sink.js';
import { HttpDetector } from '../src/detectors/http-detector.js';

const [image, tile, overlap, format, url, mode = 'pipeline'] = process.argv.slice(2);
if (mode === 'run') {
  const out = join(tmpdir(), `tessera-bench-${process.pid}.geojson`);
  const request = parseServiceRequest(JSON.stringify({
    jobId: 'bench',
    imageUrls: [image],
    outputs: [{ type: 'File', path: out }],
    imageProcessor: { name: url, type: 'HTTP_ENDPOINT' },
    imageProcessorTileSize: Number(tile),
    imageProcessorTileOverlap: Number(overlap),
    imageProcessorTileFormat: format,
  }), LOCAL_RUN_PATHS);
  const elu0 = performance.eventLoopUtilization();
  const run = await runLocal(
    { request, regionSize: 10240, tilingStrategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 60_000, maxRetries: 2 },
    { output: () => new LocalOutputSink({ kind: 'file', path: out }) },
  );
  unlinkSync(out);
  process.stdout.write(JSON.stringify({
    tiles: run.state.tiles.total,
    failedTiles: run.state.tiles.failed,
    seconds: run.seconds,
    tilesPerSecond: run.state.tiles.total / run.seconds,
    mainThreadBusy: performance.eventLoopUtilization(elu0).utilization,
    peakRssMB: peakRssMB(),
  }) + '\n');
  process.exit(0);
}
if (mode === 'http') {
  // What one tile's model call costs this process with nothing else to do: the same client (HttpDetector, as in the
  // workers) and concurrency as the pipeline, a body of the pipeline's mean encoded size.
  const detector = new HttpDetector({ url, timeoutMs: 60_000, maxRetries: 0 });
  const body = new Uint8Array(Math.max(1, Math.round(Number(image)))).map((_, i) => (i * 131) & 255);
  const calls = 3000, concurrency = 16;
  let next = 0;
  const loop = async () => {
    while (next++ < calls) await detector.detect(body, { tileLabel: 'bench' });
  };
  await Promise.all(Array.from({ length: concurrency }, loop)); // warm-up (JIT, connections)
  next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu = process.cpuUsage(cpu0);
  await detector.close();
  process.stdout.write(JSON.stringify({ calls, seconds: (performance.now() - t0) / 1000, cpuMsPerCall: (cpu.user + cpu.system) / 1000 / calls }) + '\n');
  process.exit(0);
}
if (mode !== 'pipeline') {
  const r = mode === 'limit' ? await runLimit(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG') : await runOsmlWay(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG', url);
  process.stdout.write(JSON.stringify({ ...r, peakRssMB: peakRssMB() }) + '\n');
  process.exit(0);
}
// Measured from a started pool, warmed up for small tiles, as the limit is measured in started loops: a service's
// workers have compiled their code long before (what a cold start costs shows in `run` mode). Big tiles are not
// warmed up: their per-tile code is a small part of their cost, and a warm-up's slot pool would still hold memory.
const job = benchJob(image, Number(tile), Number(overlap), format as 'JPEG' | 'PNG', url);
const pool = new TilePool();
await pool.ready();
if (job.tileSize <= 1024) await warmUp(job, pool);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const threads0 = threadCpuMs();
const result = await runImage(job, { pool });
const threads = threadCpuMs(); // before the workers exit with the pool
await pool.destroy();
const w0 = performance.now();
const out = join(tmpdir(), `tessera-bench-${process.pid}.geojson`);
await writeFeatureCollection(out, result.features);
unlinkSync(out);
const writeMs = performance.now() - w0;
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
// By thread: the main thread, the workers, and the rest (GDAL's reads on the libuv pool, V8's GC and compiler threads).
const cpuDelta = (tid: number) => (threads.get(tid) ?? 0) - (threads0.get(tid) ?? 0);
const mainCpuMs = cpuDelta(process.pid);
const workersCpuMs = [...pool.osThreadIds].reduce((sum, tid) => sum + cpuDelta(tid), 0);
const otherCpuMs = [...threads.keys()].filter((tid) => tid !== process.pid && !pool.osThreadIds.has(tid)).reduce((sum, tid) => sum + cpuDelta(tid), 0);
const megapixels = (result.plan.coveredBounds.width * result.plan.coveredBounds.height) / 1e6;
process.stdout.write(
  JSON.stringify({
    tiles: result.tiles.total,
    failedTiles: result.tiles.failed,
    firstFailure: result.failures[0]?.error,
    seconds,
    tilesPerSecond: result.tiles.total / seconds,
    // Every thread of this process (main, workers, GDAL's reads on the libuv pool), per tile.
    cpuMsPerTile: (cpu.user + cpu.system) / 1000 / result.tiles.total,
    mainCpuMsPerTile: mainCpuMs / result.tiles.total,
    workersCpuMsPerTile: workersCpuMs / result.tiles.total,
    otherThreadsCpuMsPerTile: otherCpuMs / result.tiles.total,
    megapixelsPerSecond: megapixels / seconds,
    stagesMs: { ...result.stats.stages, writeMs },
    mainThreadBusy: result.stats.mainThreadBusy,
    workerUtilization: result.stats.workerUtilization,
    peakRssMB: peakRssMB(),
    slotPoolMB: result.stats.slotBytes / 2 ** 20,
    meanTileBytes: result.stats.encodedBytes / Math.max(1, result.tiles.succeeded),
  }) + '\n',
);

/**
 * This process's own peak RSS (VmHWM, MB). Not getrusage's maxRSS: Linux carries a forked child's copy of its
 * parent's RSS into it across exec, so a case started while the bench had just generated a fixture (900 MB) reported
 * that as its own peak.
 */
function peakRssMB(): number {
  const kB = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!kB) throw new Error('no VmHWM in /proc/self/status');
  return Number(kB[1]) / 1024;
}

/** CPU time of each thread of this process so far (kernel thread id -> ms), from /proc (utime + stime, 10 ms ticks). */
function threadCpuMs(): Map<number, number> {
  const times = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      times.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return times;
}

/**
 * The first tiles of the image through the pool, discarded: the workers' and the main thread's code gets compiled.
 * Its GDAL handles are closed before the measured run opens its own, so no decoded block is carried over.
 */
async function warmUp(job: ImageJob, pool: TilePool): Promise<void> {
  const prepared = await prepareImage(job);
  const tiles = prepared.plan.regions.flatMap((region) => tilesOfRegion(prepared.plan, region));
  await processTiles({
    info: prepared.info,
    config: workerConfigFor(job, prepared),
    tiles: tiles.slice(0, Math.min(128, Math.ceil(tiles.length / 4))),
    pool,
    onResult: () => undefined,
    onFailure: () => undefined,
  });
}
