/**
 * The contract between the main thread and the tile workers: what a worker is configured with once (workerData),
 * what one tile task carries (a slot handle and a window, never pixels), and what it returns.
 */
import type { Georeference } from '../geolocation/georeference.js';
import type { DataType } from '../pixels/data-type.js';
import type { Feature } from '../features/geojson.js';
import type { Window } from '../tiling/window.js';
import type { SlotHandle } from '../raster/slot-pool.js';
import type { TileEncoding } from '../encoding/tile-encoding.js';

export type DetectorConfig = HttpDetectorConfig | SageMakerDetectorConfig;

export interface HttpDetectorConfig {
  kind: 'http';
  url: string;
  customAttributes?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  maxRetries: number;
}

/** A SageMaker real-time endpoint, called with InvokeEndpoint (see SageMakerDetector). */
export interface SageMakerDetectorConfig {
  kind: 'sagemaker';
  endpointName: string;
  region: string;
  /** SageMaker runtime endpoint URL (TESSERA_SAGEMAKER_ENDPOINT; a loopback server in tests). Absent: the regional one. */
  endpoint?: string;
  /** imageProcessorParameters, passed through to InvokeEndpoint (its own parameters only). */
  parameters: Record<string, unknown>;
  timeoutMs: number;
  /** SDK attempts in all, including the first. */
  maxAttempts: number;
  /** imageProcessor.assumedRole: assumed through STS for the calls. */
  assumedRole?: string;
  /** STS endpoint URL used to assume the role (TESSERA_STS_ENDPOINT). */
  stsEndpoint?: string;
}

export interface PixelConversion {
  /** Planes in the slot (all bands of the image, band-sequential). */
  bandCount: number;
  dataType: DataType;
  /** 0-based planes to send, in order. */
  bands: number[];
  outputType: 'Byte' | 'UInt16' | 'same';
  /** Per output band [min, max] stretch (range adjustment), computed once per image. */
  ranges?: Array<[number, number]>;
  /** Complex I/Q input: planes 2k, 2k+1 are complex band k, `bands` name complex bands, tiles carry the amplitude. */
  complex?: 'amplitude';
}

export interface WorkerConfig {
  detector: DetectorConfig;
  georeference: Georeference | null;
  conversion: PixelConversion;
  encoding: TileEncoding;
  /** Source NITF fields carried into NITF tiles. */
  nitfFields?: { icat?: string; ftitle?: string; idatim?: string };
}

export interface TileTask {
  /** Identifies `config` for the worker's cache (one per image and set of options). */
  configKey: string;
  config: WorkerConfig;
  slot: Pick<SlotHandle, 'buffer' | 'control' | 'index' | 'ticket' | 'byteOffset' | 'byteLength'>;
  window: Window;
  /** Human label for messages: OSML's "(row, col)(width, height)". */
  label: string;
}

export interface TileTimings {
  convertMs: number;
  encodeMs: number;
  invokeMs: number;
  refineMs: number;
}

export interface TileResult {
  features: Feature[];
  encodedBytes: number;
  attempts: number;
  timings: TileTimings;
}

/** The steps of a tile, as OSML's metrics name them: TileGeneration, ModelInvocation, FeatureRefinement. */
export type TileStage = 'generation' | 'invocation' | 'refinement';

/**
 * A tile that failed in the worker, returned rather than thrown: an Error crosses the thread boundary with its
 * message only, and the metrics need the step that failed, the model attempts made and the steps' timings.
 */
export interface TileFailed {
  failed: {
    stage: TileStage;
    /** The error's message, as a thrown error would have carried it. */
    error: string;
    /** Model attempts made (invocation failures). */
    attempts?: number;
    /** The steps that completed (and the failed step's time until it failed). */
    timings: Partial<TileTimings>;
  };
}

export type TileOutcome = TileResult | TileFailed;

export function isTileFailed(outcome: TileOutcome): outcome is TileFailed {
  return (outcome as TileFailed).failed !== undefined;
}
