/**
 * The engine: one image through read → slot → worker (convert, encode, detect, refine, geolocate) → de-duplicate.
 *
 * The main thread only opens the image, plans tiles, schedules reads into the slot pool and hands slot handles to
 * the worker pool. Two bounds keep memory flat whatever the image size: the slot pool (pixels waiting for a worker)
 * and the in-flight limit (tiles between read and result).
 */
import { performance } from 'node:perf_hooks';
import { describeRaster, type RasterInfo } from '../raster/raster-source.js';
import type { S3ReadCredentials } from '../raster/s3-read-credentials.js';
import { bandHistograms } from '../raster/band-statistics.js';
import { selectBands } from '../pixels/band-selection.js';
import { draRange, minMaxRange, type RangeAdjustment } from '../pixels/range-adjustment.js';
import { checkTileEncoding, type TileEncoding } from '../encoding/tile-encoding.js';
import { planTiling, tilesOfRegion, type TilingPlan, type TilingStrategyName, type Window } from '../tiling/index.js';
import { createSensorModel, type SensorModel } from '../geolocation/sensor-model.js';
import { parseRoi, roiToBounds } from '../geolocation/roi.js';
import { distill, type Distillation } from '../selection/index.js';
import { imageBoundsOf, topClass } from '../features/refine.js';
import { applyDecayedScore, finalizeFeature, nitfDateTime, nitfSourceMetadata } from '../features/output.js';
import type { Feature } from '../features/geojson.js';
import type { DetectorConfig, PixelConversion, WorkerConfig } from './tile-task.js';
import { TilePool } from './tile-pool.js';
import { processTiles, type StageTotals } from './process-tiles.js';
import { planAmplitude } from './complex-amplitude.js';

export type { StageTotals } from './process-tiles.js';

export interface ImageJob {
  jobId: string;
  /** Local path or GDAL path (/vsis3/...). */
  image: string;
  /** Keys for an S3 image's reads (the request's imageReadRole); absent: the service's own credentials. */
  readCredentials?: S3ReadCredentials | undefined;
  /** The only GDAL drivers that may open the image (the service's TESSERA_GDAL_DRIVERS); absent: any. */
  drivers?: readonly string[] | undefined;
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
  /** A long-lived pool to use (service mode); by default the run makes and destroys its own. */
  pool?: TilePool;
  onPlan?(plan: TilingPlan, tileCount: number, info: RasterInfo): void;
  onTile?(progress: { done: number; failed: number; total: number }): void;
  onWarning?(message: string): void;
}

export interface TileFailure {
  tile: string;
  error: string;
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
  const info = await describeRaster(job.image, { ...(job.imageSegment !== undefined ? { imageSegment: job.imageSegment } : {}), readCredentials: job.readCredentials, drivers: job.drivers });
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
    try {
      bounds = roiToBounds(roi, sensorModel, info.width, info.height);
    } catch (err) {
      throw new JobInputError(`${info.location}: ${(err as Error).message}`);
    }
  }
  const size = (n: number) => ({ width: n, height: n });
  let plan: TilingPlan;
  try {
    plan = planTiling({ bounds, tileSize: size(job.tileSize), overlap: size(job.overlap), regionSize: size(job.regionSize), strategy: job.strategy });
  } catch (err) {
    throw new JobInputError(`${info.location}: ${(err as Error).message}`);
  }

  // Complex SAR (SICD I/Q) into tiles that cannot carry it: amplitude with a range adjustment (complex-amplitude.ts).
  const amplitude = await planAmplitude(job, info);
  if (amplitude && 'inputError' in amplitude) throw new JobInputError(amplitude.inputError);
  if (amplitude) {
    warnings.push(amplitude.warning);
    return { info, plan, sensorModel, conversion: amplitude.conversion, rangeAdjustment: amplitude.rangeAdjustment, warnings };
  }

  let bands: number[];
  try {
    bands = selectBands({ ...(job.bands ? { requested: job.bands } : {}), bandCount: info.bandCount, colorInterpretation: info.colorInterpretation, format: job.encoding.format, compression: job.encoding.compression });
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
  const sent = outputType === 'same' ? info.dataType : outputType;
  const sampleType = sent === 'Byte' || sent === 'UInt16' ? sent : 'other';
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

  const pool = hooks.pool ?? new TilePool({ ...(job.workers ? { workers: job.workers } : {}), ...(job.concurrencyPerWorker ? { concurrencyPerWorker: job.concurrencyPerWorker } : {}) });
  const collected: Feature[] = [];
  const failures: TileFailure[] = [];
  let succeeded = 0;
  const elu0 = performance.eventLoopUtilization();
  let processed: Awaited<ReturnType<typeof processTiles>>;
  try {
    processed = await processTiles({
      info,
      config: workerConfigFor(job, prepared),
      tiles,
      pool,
      ...(job.slots ? { slots: job.slots } : {}),
      ...(job.readers ? { readers: job.readers } : {}),
      onResult: (_w, _label, r) => {
        succeeded++;
        for (const f of r.features) collected.push(f);
      },
      onFailure: (_w, tile, error) => {
        // The tile label already opens most messages ("(row, col)(w, h): ..."); do not repeat it.
        failures.push({ tile, error: error.startsWith(`${tile}: `) ? error.slice(tile.length + 2) : error });
      },
      stopReason: () => (collected.length === 0 && succeeded === 0 ? everyTileRejected(failures, tiles.length) : null),
      onProgress: (done, total) => hooks.onTile?.({ done, failed: failures.length, total }),
    });
  } finally {
    if (!hooks.pool) await pool.destroy();
  }
  const { stages, encodedBytes } = processed;
  const rejected = succeeded === 0 ? everyTileRejected(failures, tiles.length) : null;
  if (rejected) throw new JobInputError(rejected);

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
      workerUtilization: Math.min(1, busy / (seconds * 1000 * pool.workers)),
      slotBytes: processed.slotBytes,
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
    if (distillation.algorithm === 'SOFT_NMS') applyDecayedScore(f, scores[i]);
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

/** The settings a worker needs for this image's tiles. */
export function workerConfigFor(job: Pick<ImageJob, 'detector' | 'encoding'>, prepared: PreparedImage): WorkerConfig {
  const { info } = prepared;
  return {
    detector: job.detector,
    georeference: info.georeference,
    conversion: prepared.conversion,
    encoding: job.encoding,
    ...(info.format === 'NITF' ? { nitfFields: nitfTileFields(info.metadata) } : {}),
  };
}

/** How many first tiles must fail the same way before a run is stopped as misconfigured. */
const FAIL_FAST_TILES = 8;

/**
 * A model that answers the first tiles with the same client error (400 bad model selection, 404 wrong path, 413
 * ...) will answer every tile so: stop instead of spending hours on an image whose output would be empty. An image
 * of fewer tiles is judged on all of them.
 */
export function everyTileRejected(failures: TileFailure[], totalTiles = Infinity): string | null {
  if (failures.length < Math.min(FAIL_FAST_TILES, totalTiles)) return null;
  const status = (e: string) => /model returned HTTP (4\d\d)/.exec(e)?.[1] ?? null;
  const first = status(failures[0].error);
  if (!first || first === '408' || first === '429') return null;
  if (!failures.every((f) => status(f.error) === first)) return null;
  const n = failures.length;
  const which = n >= totalTiles ? (n === 1 ? 'the only tile' : `all ${n} tiles`) : `the first ${n} tiles`;
  return `the model rejected ${which} with HTTP ${first} (e.g. ${failures[0].error}); stopped: check the model URL and custom attributes`;
}
