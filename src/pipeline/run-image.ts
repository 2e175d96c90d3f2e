/**
 * The engine: one image through read → slot → worker (convert, encode, detect, refine, geolocate) → de-duplicate.
 *
 * The main thread only opens the image, plans tiles, schedules reads into the slot pool and hands slot handles to
 * the worker pool. Two bounds keep memory flat whatever the image size: the slot pool (pixels waiting for a worker)
 * and the in-flight limit (tiles between read and result).
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { describeRaster, type RasterInfo } from '../raster/raster-source.js';
import { SlotPool } from '../raster/slot-pool.js';
import { WindowReader } from '../raster/window-reader.js';
import { bandHistograms } from '../raster/band-statistics.js';
import { bytesPerSample } from '../pixels/data-type.js';
import { selectBands } from '../pixels/band-selection.js';
import { draRange, minMaxRange, type RangeAdjustment } from '../pixels/range-adjustment.js';
import { checkTileEncoding, type TileEncoding } from '../encoding/tile-encoding.js';
import { planTiling, tilesOfRegion, regionTupleRepr, type TilingPlan, type TilingStrategyName, type Window } from '../tiling/index.js';
import { createSensorModel, type SensorModel } from '../geolocation/sensor-model.js';
import { parseRoi, roiToBounds } from '../geolocation/roi.js';
import { distill, type Distillation } from '../selection/index.js';
import { imageBoundsOf, topClass } from '../features/refine.js';
import { finalizeFeature, nitfDateTime, nitfSourceMetadata } from '../features/output.js';
import type { Feature } from '../features/geojson.js';
import { packageRoot } from '../util/package-root.js';
import type { DetectorConfig, PixelConversion, TileResult, TileTask, WorkerConfig } from './tile-task.js';

export interface ImageJob {
  jobId: string;
  /** Local path or GDAL path (/vsis3/...). */
  image: string;
  imageSegment?: number;
  detector: DetectorConfig;
  tileSize: number;
  overlap: number;
  regionSize: number;
  strategy: TilingStrategyName;
  encoding: TileEncoding;
  /** 1-based band numbers; default chosen from the image and format. */
  bands?: number[];
  rangeAdjustment?: RangeAdjustment;
  /** WKT polygon in lon/lat. */
  roi?: string;
  distillation: Distillation;
  featureProperties: Record<string, unknown>[];
  /** Worker threads (default: available cores). */
  workers?: number;
  /** Concurrent model calls per worker (default 8). */
  concurrencyPerWorker?: number;
  /** Tile slots in the shared pool (default 2 per worker + 2). */
  slots?: number;
  /** GDAL handles reading in parallel (default 2). */
  readers?: number;
}

export interface RunHooks {
  onPlan?(plan: TilingPlan, tileCount: number, info: RasterInfo): void;
  onTile?(progress: { done: number; failed: number; total: number }): void;
  onWarning?(message: string): void;
}

export interface TileFailure {
  tile: string;
  error: string;
}

export interface StageTotals {
  readMs: number;
  convertMs: number;
  encodeMs: number;
  invokeMs: number;
  refineMs: number;
  dedupMs: number;
}

export interface ImageResult {
  info: RasterInfo;
  plan: TilingPlan;
  features: Feature[];
  featuresBeforeDedup: number;
  tiles: { total: number; succeeded: number; failed: number };
  failures: TileFailure[];
  warnings: string[];
  /** How the pixels were converted, stated in the output's metadata. */
  conversion: { bands: number[]; outputType: string; rangeAdjustment: RangeAdjustment; ranges?: Array<[number, number]> };
  stats: {
    seconds: number;
    stages: StageTotals;
    encodedBytes: number;
    mainThreadBusy: number;
    workerUtilization: number;
    slotBytes: number;
  };
}

export class JobInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobInputError';
  }
}

/** Everything decided before the first pixel is read: failures here are input errors, nothing was processed. */
export interface PreparedImage {
  info: RasterInfo;
  plan: TilingPlan;
  sensorModel: SensorModel | null;
  conversion: PixelConversion;
  rangeAdjustment: RangeAdjustment;
  warnings: string[];
}

export async function prepareImage(job: ImageJob): Promise<PreparedImage> {
  const warnings: string[] = [];
  const info = await describeRaster(job.image, job.imageSegment !== undefined ? { imageSegment: job.imageSegment } : {});
  let sensorModel: SensorModel | null = null;
  if (info.georeference) {
    try {
      sensorModel = createSensorModel(info.georeference);
      if (info.georeference.crs === null) checkDegreesWithoutCrs(sensorModel, info.width, info.height);
    } catch (err) {
      sensorModel = null;
      warnings.push(`${info.location}: georeference unusable (${(err as Error).message}); features will have pixel coordinates only (geometry: null)`);
      info.georeference = null;
    }
  } else {
    warnings.push(`${info.location}: not georeferenced (${info.georeferenceNote ?? 'no sensor model'}); features will have pixel coordinates only (geometry: null)`);
  }

  let bounds: Window = { x: 0, y: 0, width: info.width, height: info.height };
  if (job.roi) {
    const roi = parseRoi(job.roi);
    if (!sensorModel) throw new JobInputError(`region of interest given but ${info.location} has no georeference to place it`);
    bounds = roiToBounds(roi, sensorModel, info.width, info.height);
  }
  const size = (n: number) => ({ width: n, height: n });
  let plan: TilingPlan;
  try {
    plan = planTiling({ bounds, tileSize: size(job.tileSize), overlap: size(job.overlap), regionSize: size(job.regionSize), strategy: job.strategy });
  } catch (err) {
    throw new JobInputError((err as Error).message);
  }

  let bands: number[];
  try {
    bands = selectBands({ ...(job.bands ? { requested: job.bands } : {}), bandCount: info.bandCount, colorInterpretation: info.colorInterpretation, format: job.encoding.format });
  } catch (err) {
    throw new JobInputError(`${info.location}: ${(err as Error).message}`);
  }

  // 8-bit formats need 8-bit samples: non-8-bit sources get a DRA stretch unless the user chose otherwise.
  const canCarrySource = ((job.encoding.format === 'NITF' || job.encoding.format === 'GTIFF') && job.encoding.compression !== 'JPEG') || (job.encoding.format === 'PNG' && (info.dataType === 'Byte' || info.dataType === 'UInt16'));
  const rangeAdjustment: RangeAdjustment = job.rangeAdjustment ?? (info.dataType === 'Byte' || canCarrySource ? 'NONE' : 'DRA');
  let outputType: PixelConversion['outputType'] = 'same';
  if (rangeAdjustment !== 'NONE') outputType = job.encoding.format === 'PNG' && info.dataType !== 'Byte' && job.rangeAdjustment ? 'UInt16' : 'Byte';
  if (rangeAdjustment === 'NONE' && !canCarrySource && info.dataType !== 'Byte') {
    throw new JobInputError(`${info.location}: ${info.dataType} samples cannot go into ${job.encoding.format}${job.encoding.compression === 'JPEG' ? '/JPEG' : ''} tiles without a range adjustment (use MINMAX or DRA, or a NITF/GTIFF tile format)`);
  }
  if (job.rangeAdjustment === undefined && rangeAdjustment === 'DRA') {
    warnings.push(`${info.location}: ${info.dataType} samples are stretched to 8 bits with DRA for ${job.encoding.format} tiles`);
  }
  const conversion: PixelConversion = { bandCount: info.bandCount, dataType: info.dataType, bands, outputType };
  if (rangeAdjustment !== 'NONE') {
    const histograms = await bandHistograms(info, bands);
    conversion.ranges = histograms.map((h) => (rangeAdjustment === 'MINMAX' ? minMaxRange(h) : draRange(h)));
  }
  const sampleType = (outputType === 'same' ? info.dataType : outputType) === 'Byte' ? 'Byte' : (outputType === 'same' ? info.dataType : outputType) === 'UInt16' ? 'UInt16' : 'other';
  try {
    checkTileEncoding(job.encoding, sampleType);
  } catch (err) {
    throw new JobInputError((err as Error).message);
  }
  return { info, plan, sensorModel, conversion, rangeAdjustment, warnings };
}

export async function runImage(job: ImageJob, hooks: RunHooks = {}): Promise<ImageResult> {
  const started = performance.now();
  const prepared = await prepareImage(job);
  const { info, plan, conversion, warnings } = prepared;
  for (const w of warnings) hooks.onWarning?.(w);

  const tiles: Window[] = plan.regions.flatMap((region) => tilesOfRegion(plan, region));
  hooks.onPlan?.(plan, tiles.length, info);

  const cores = availableParallelism();
  const workers = Math.max(1, job.workers ?? cores);
  const perWorker = Math.max(1, job.concurrencyPerWorker ?? 8);
  const slotCount = Math.max(2, job.slots ?? workers * 2 + 2);
  const maxTile = tiles.reduce((m, t) => Math.max(m, t.width * t.height), 1);
  const slots = new SlotPool(slotCount, maxTile * info.bandCount * bytesPerSample(info.dataType));
  const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, Math.max(1, job.readers ?? 2));
  const workerConfig: WorkerConfig = {
    detector: job.detector,
    georeference: info.georeference,
    conversion,
    encoding: job.encoding,
    ...(info.format === 'NITF' ? { nitfFields: nitfTileFields(info.metadata) } : {}),
  };
  const pool = new Piscina<TileTask, TileResult>({
    filename: join(packageRoot(), 'dist', 'workers', 'tile-worker.js'),
    workerData: workerConfig,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: perWorker,
    idleTimeout: 60_000,
  });

  // A worker that cannot start (missing build, native module that fails to load) is fatal for the run: stop
  // reading, fail what is queued, and report it instead of leaving tiles waiting forever.
  let fatal: Error | null = null;
  pool.on('error', (err: Error) => {
    if (fatal) return;
    fatal = new Error(`tile worker failed: ${err.message}`);
    void pool.destroy();
  });

  const elu0 = performance.eventLoopUtilization();
  const stages: StageTotals = { readMs: 0, convertMs: 0, encodeMs: 0, invokeMs: 0, refineMs: 0, dedupMs: 0 };
  const collected: Feature[] = [];
  const failures: TileFailure[] = [];
  let encodedBytes = 0, done = 0;
  const maxInFlight = workers * perWorker + slotCount;
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  const waitForChange = () => new Promise<void>((resolve) => waiters.push(resolve));
  const finishTile = () => {
    inFlight--;
    done++;
    hooks.onTile?.({ done, failed: failures.length, total: tiles.length });
    for (const wakeUp of waiters.splice(0)) wakeUp();
  };

  /** Reads a tile into a slot and dispatches it; resolves once dispatched, with the promise of its completion. */
  const startTile = async (window: Window, label: string): Promise<{ completion: Promise<void> }> => {
    const slot = await slots.acquire();
    const r0 = performance.now();
    try {
      await reader.read(window, slot);
    } catch (err) {
      slots.release(slot);
      throw err;
    }
    stages.readMs += performance.now() - r0;
    const task: TileTask = {
      slot: { buffer: slot.buffer, control: slot.control, index: slot.index, ticket: slot.ticket, byteOffset: slot.byteOffset, byteLength: slot.byteLength },
      window,
      label,
    };
    const completion = pool.run(task).then(
      (r) => {
        slots.release(slot); // a no-op unless the worker died before releasing it
        for (const f of r.features) collected.push(f);
        encodedBytes += r.encodedBytes;
        stages.convertMs += r.timings.convertMs;
        stages.encodeMs += r.timings.encodeMs;
        stages.invokeMs += r.timings.invokeMs;
        stages.refineMs += r.timings.refineMs;
      },
      (err: unknown) => {
        slots.release(slot);
        failures.push({ tile: label, error: String((err as Error)?.message ?? err) });
      },
    );
    return { completion };
  };

  // A few concurrent read loops: each takes the next tile, waits for an in-flight place and a slot, reads, dispatches.
  let next = 0;
  const readLoop = async () => {
    while (next < tiles.length && !fatal) {
      const window = tiles[next++];
      const label = regionTupleRepr(window);
      while (inFlight >= maxInFlight) await waitForChange();
      inFlight++;
      try {
        const { completion } = await startTile(window, label);
        void completion.finally(finishTile);
      } catch (err) {
        failures.push({ tile: label, error: (err as Error).message });
        finishTile();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(2, (job.readers ?? 2) * 2) }, readLoop));
    while (inFlight > 0) await waitForChange();
  } finally {
    reader.close();
    slots.close();
    await pool.destroy().catch(() => undefined);
  }
  if (fatal) throw fatal;

  const featuresBeforeDedup = collected.length;
  const d0 = performance.now();
  const kept = deduplicate(collected, plan, job.distillation);
  stages.dedupMs = performance.now() - d0;
  const source = nitfSourceMetadata(info.location, info.metadata);
  const featureProperties = source ? [...job.featureProperties, { sourceMetadata: [source] }] : job.featureProperties;
  const features = kept.map((f) => finalizeFeature(f, job.jobId, featureProperties));

  const elu = performance.eventLoopUtilization(elu0);
  const seconds = (performance.now() - started) / 1000;
  const busy = stages.convertMs + stages.encodeMs + stages.refineMs;
  return {
    info,
    plan,
    features,
    featuresBeforeDedup,
    tiles: { total: tiles.length, succeeded: tiles.length - failures.length, failed: failures.length },
    failures,
    warnings,
    conversion: { bands: conversion.bands, outputType: conversion.outputType === 'same' ? info.dataType : conversion.outputType, rangeAdjustment: prepared.rangeAdjustment, ...(conversion.ranges ? { ranges: conversion.ranges } : {}) },
    stats: {
      seconds,
      stages,
      encodedBytes,
      mainThreadBusy: elu.utilization,
      workerUtilization: Math.min(1, busy / (seconds * 1000 * workers)),
      slotBytes: slots.totalBytes,
    },
  };
}

/** OSML's feature distillation over the whole image; Soft-NMS keeps the original score as rawScore. */
export function deduplicate(features: Feature[], plan: TilingPlan, distillation: Distillation): Feature[] {
  if (distillation.algorithm === 'NONE' || features.length === 0) return features;
  const detections = features.map((f) => {
    const bounds = imageBoundsOf(f) ?? [0, 0, 0, 0];
    const { label, score } = topClass(f);
    return { bounds, label, score };
  });
  const { keep, scores } = distill(detections, plan, distillation);
  const out: Feature[] = [];
  for (let i = 0; i < keep.length; i++) {
    const f = features[keep[i]];
    if (distillation.algorithm === 'SOFT_NMS' && scores[i] !== detections[keep[i]].score) {
      const classes = f.properties.featureClasses as { iri: string; score: number; rawScore?: number }[] | undefined;
      const top = classes?.find((c) => c.iri === detections[keep[i]].label && c.score === detections[keep[i]].score);
      if (top) {
        top.rawScore = top.score;
        top.score = scores[i];
      }
    }
    out.push(f);
  }
  return out;
}

/** Source NITF fields carried into NITF tiles (IDATIM normalised to NITF 2.1's CCYYMMDDhhmmss). */
function nitfTileFields(metadata: Record<string, string>): { icat?: string; ftitle?: string; idatim?: string } {
  const idatim = nitfDateTime(metadata.NITF_IDATIM ?? '');
  return {
    ...(metadata.NITF_ICAT ? { icat: metadata.NITF_ICAT.trim() } : {}),
    ...(metadata.NITF_FTITLE ? { ftitle: metadata.NITF_FTITLE } : {}),
    ...(idatim ? { idatim } : {}),
  };
}

/** Without a CRS the coordinates are taken as WGS84 degrees, which only makes sense when they look like degrees. */
function checkDegreesWithoutCrs(model: SensorModel, width: number, height: number): void {
  for (const [x, y] of [[0, 0], [width, 0], [width, height], [0, height]]) {
    const [lon, lat] = model.imageToWorld(x, y);
    if (!(Math.abs(lon) <= 180 && Math.abs(lat) <= 90)) {
      throw new Error(`the geotransform has no CRS and its coordinates (${lon}, ${lat}) are not longitude/latitude`);
    }
  }
}
