/**
 * Piscina task: one tile from slot to geolocated features. Pixels are read from the shared slot, converted by the
 * Rust module into a private buffer, and the slot is released right then, before encoding and the model call, so
 * the main thread can reuse it while this tile waits on the network.
 */
import { performance } from 'node:perf_hooks';
import { readlinkSync } from 'node:fs';
import { parentPort, threadId } from 'node:worker_threads';
import { outputBytesPerSample } from '../src/pixels/native.js';
import { convertAnyBands } from '../src/pixels/convert-bands.js';
import { type EncodeInput, checkPayload, encodeTile } from '../src/encoding/tile-encoding.js';
import { HttpDetector } from '../src/detectors/http-detector.js';
import type { Detector } from '../src/detectors/detector.js';
import { createSensorModel, type SensorModel } from '../src/geolocation/sensor-model.js';
import { refineFeatures } from '../src/features/refine.js';
import { releaseSlot, slotBytes } from '../src/raster/slot-pool.js';
import { bytesPerSample } from '../src/pixels/data-type.js';
import type { DetectorConfig, TileOutcome, TileStage, TileTimings, TileTask, WorkerConfig } from '../src/pipeline/tile-task.js';

/** What a worker builds from one image's settings, cached by key: the model client and the sensor model. */
interface ImageContext {
  config: WorkerConfig;
  detector: Detector;
  sensorModel: SensorModel | null;
  outSampleType: EncodeInput['sampleType'];
  geoTransform: number[] | null;
}

const MAX_CONTEXTS = 8;
const contexts = new Map<string, ImageContext | Promise<ImageContext>>();

/** The image's context; a promise only while a SageMaker client is being loaded for it (once per image). */
function contextFor(key: string, config: WorkerConfig): ImageContext | Promise<ImageContext> {
  const cached = contexts.get(key);
  if (cached) return cached;
  if (config.detector.kind === 'sagemaker' && !sageMaker) {
    const loading = loadSageMaker().then(() => {
      contexts.delete(key);
      return contextFor(key, config);
    });
    contexts.set(key, loading);
    return loading;
  }
  let sensorModel: SensorModel | null = null;
  if (config.georeference) {
    try {
      sensorModel = createSensorModel(config.georeference);
    } catch {
      sensorModel = null; // the main thread already warned and decided; workers just follow
    }
  }
  const context: ImageContext = {
    config,
    detector: createDetector(config.detector),
    sensorModel,
    outSampleType: config.conversion.outputType === 'same' ? config.conversion.dataType : config.conversion.outputType,
    geoTransform: config.georeference?.kind === 'geotransform' ? config.georeference.geoTransform : null,
  };
  contexts.set(key, context);
  // Oldest first: drop images this worker has not seen for a while, closing their connections.
  while (contexts.size > MAX_CONTEXTS) {
    const [oldKey, old] = contexts.entries().next().value as [string, ImageContext | Promise<ImageContext>];
    contexts.delete(oldKey);
    void Promise.resolve(old).then((c) => c.detector.close());
  }
  return context;
}

/**
 * The AWS SDK's SageMaker runtime client costs about half a second of CPU to load: a worker loads it only for an
 * image that uses a SageMaker endpoint, so HTTP runs start their workers that much sooner.
 */
let sageMaker: typeof import('../src/detectors/sagemaker-detector.js') | undefined;
let sageMakerLoading: Promise<void> | undefined;
function loadSageMaker(): Promise<void> {
  return (sageMakerLoading ??= import('../src/detectors/sagemaker-detector.js').then((m) => {
    sageMaker = m;
  }));
}

function createDetector(d: DetectorConfig): Detector {
  if (d.kind === 'sagemaker') {
    return new sageMaker!.SageMakerDetector({
      endpointName: d.endpointName,
      region: d.region,
      ...(d.endpoint ? { endpoint: d.endpoint } : {}),
      parameters: d.parameters,
      timeoutMs: d.timeoutMs,
      maxAttempts: d.maxAttempts,
      ...(d.assumedRole ? { assumedRole: d.assumedRole } : {}),
      ...(d.stsEndpoint ? { stsEndpoint: d.stsEndpoint } : {}),
    });
  }
  return new HttpDetector({
    url: d.url,
    ...(d.customAttributes ? { customAttributes: d.customAttributes } : {}),
    ...(d.headers ? { headers: d.headers } : {}),
    timeoutMs: d.timeoutMs,
    maxRetries: d.maxRetries,
  });
}

/**
 * One conversion output buffer per worker, reused by every tile: a fresh 2048² buffer costs its page faults on every
 * tile. Safe although a worker runs several tiles concurrently, because nothing awaits between convertAnyBands and the end
 * of encodeTile (both synchronous), and no encoder returns bytes that alias its input (they all copy into new
 * buffers), so the next tile may overwrite it. Keep it that way: no `await` between convertTile and encodeTile.
 * Tiles needing more than SCRATCH_MAX_BYTES get a buffer of their own, so one huge tile does not pin memory.
 */
let scratch = new Uint8Array(0);
const SCRATCH_MAX_BYTES = 64 << 20;

function conversionOutput(bytes: number): Uint8Array | undefined {
  if (bytes > SCRATCH_MAX_BYTES) return undefined;
  if (scratch.byteLength < bytes) scratch = new Uint8Array(bytes);
  return scratch;
}

export default async function processTile(task: TileTask): Promise<TileOutcome> {
  const { window } = task;
  const found = contextFor(task.configKey, task.config);
  // Awaited before the slot is read, so the no-await rule between conversion and encoding (below) still holds.
  const { config, detector, sensorModel, outSampleType, geoTransform: gt } = found instanceof Promise ? await found : found;
  const conversion = config.conversion;
  // Which step is running, for a failure's metrics (returned, not thrown: see TileFailed).
  let stage: TileStage = 'generation';
  const timings: Partial<TileTimings> = {};
  let mark = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
  try {
    let pixels: Uint8Array;
    try {
      const source = slotBytes(task.slot, window.width * window.height * conversion.bandCount * bytesPerSample(conversion.dataType));
      const outputBytes = window.width * window.height * conversion.bands.length * outputBytesPerSample(conversion);
      pixels = convertAnyBands(
        source,
        {
          width: window.width,
          height: window.height,
          bandCount: conversion.bandCount,
          dataType: conversion.dataType,
          bands: conversion.bands,
          outputType: conversion.outputType,
          ...(conversion.ranges ? { ranges: conversion.ranges } : {}),
          ...(conversion.complex ? { complex: conversion.complex } : {}),
        },
        conversionOutput(outputBytes), // shared scratch: see `scratch` (no await until encodeTile returns)
      );
    } finally {
      releaseSlot(task.slot);
    }
    timings.convertMs = lap();
    // Synchronous, right after the conversion: `pixels` may be the shared scratch buffer.
    const encoded = encodeTile(
      {
        pixels,
        width: window.width,
        height: window.height,
        channels: conversion.bands.length,
        sampleType: outSampleType,
        ...(gt ? { geoTransform: [gt[0] + window.x * gt[1] + window.y * gt[2], gt[1], gt[2], gt[3] + window.x * gt[4] + window.y * gt[5], gt[4], gt[5]] } : {}),
        ...(sensorModel ? { corners: tileCorners(sensorModel, window) } : {}),
        ...(config.nitfFields ? { nitfFields: config.nitfFields } : {}),
      },
      config.encoding,
    );
    checkPayload(encoded.byteLength, config.encoding, task.label, window.width * window.height, outSampleType);
    timings.encodeMs = lap();
    stage = 'invocation';
    const { features: raw, attempts } = await detector.detect(encoded, { tileLabel: task.label });
    timings.invokeMs = lap();
    stage = 'refinement';
    const features = refineFeatures(raw, { tileX: window.x, tileY: window.y, inferenceTime: Date.now(), sensorModel });
    timings.refineMs = lap();
    return { features, encodedBytes: encoded.byteLength, attempts, timings: timings as TileTimings };
  } catch (err) {
    const ms = lap();
    if (stage === 'generation') timings[timings.convertMs === undefined ? 'convertMs' : 'encodeMs'] = ms;
    else timings[stage === 'invocation' ? 'invokeMs' : 'refineMs'] = ms;
    // Detector errors carry the attempts made (DetectorError.attempts).
    const attempts = (err as { attempts?: unknown })?.attempts;
    return {
      failed: {
        stage,
        error: String((err as Error)?.message ?? err),
        ...(stage === 'invocation' && typeof attempts === 'number' ? { attempts } : {}),
        timings,
      },
    };
  }
}

function tileCorners(model: SensorModel, w: { x: number; y: number; width: number; height: number }) {
  const c = (x: number, y: number): [number, number] => {
    const [lon, lat] = model.imageToWorld(x, y);
    return [lon, lat];
  };
  return [c(w.x, w.y), c(w.x + w.width, w.y), c(w.x + w.width, w.y + w.height), c(w.x, w.y + w.height)] as [[number, number], [number, number], [number, number], [number, number]];
}

// Every module above has loaded: tell the pool (TilePool.ready), with this thread's kernel id where Linux gives it
// (/proc/thread-self -> <pid>/task/<tid>), which the bench uses to account the workers' CPU time.
parentPort?.postMessage({ tesseraWorkerLoaded: threadId, osThreadId: kernelThreadId() });

function kernelThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || undefined;
  } catch {
    return undefined;
  }
}
