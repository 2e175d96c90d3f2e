/**
 * The contract shared by the OSML test models. A model is a pure function of the decoded tile description, the
 * request's parameters and a random source; the HTTP server does the I/O (decoding, sleeping, writing).
 */
import type { Rng } from '../random.js';

export const SUPPORTED_MODEL_NAMES = ['centerpoint', 'flood', 'failure'] as const;
export type ModelName = (typeof SUPPORTED_MODEL_NAMES)[number];

/** What the server learned from the posted tile. */
export interface TileInfo {
  width: number;
  height: number;
  bandCount: number;
  /** Mean of each of the first bands, present only when the model asked for them (see `bandMeansNeeded`). */
  bandMeans?: readonly number[];
}

/** Settings from the server environment, possibly overridden per request by CustomAttributes. */
export interface ModelParams {
  /** Env `BBOX_PERCENTAGE`: half-size of a detection relative to the tile (default 0.1). */
  bboxPercentage: number;
  /** Env `ENABLE_SEGMENTATION` === "true" (case-insensitive): add a polygon `imageGeometry`. */
  enableSegmentation: boolean;
  /** Env `FLOOD_VOLUME` (default 100) or CustomAttributes `flood_volume`: features per flood tile. */
  floodVolume: number;
  /** Env `FAILURE_TIMEOUT_MS` (default 5000): how long the failure model stalls before its 408. */
  failureTimeoutMs: number;
}

/** An HTTP answer, described rather than sent so that models stay pure. */
export interface ModelResponse {
  status: number;
  body: string;
  contentType: 'application/json' | 'text/plain; charset=utf-8';
  /** Wait this long before answering (the failure model's simulated timeout). */
  delayMs?: number;
}

export interface TestModel {
  readonly name: ModelName;
  /** Whether CustomAttributes `mock_latency_mean`/`mock_latency_std` apply (centerpoint and flood only). */
  readonly simulatesLatency: boolean;
  /** How many leading bands need their mean computed; 0 means only the raster size is read (cheap). */
  bandMeansNeeded(bandCount: number): number;
  respond(tile: TileInfo, params: ModelParams, rng: Rng): ModelResponse;
  /** The answer when the payload cannot be opened as an image (differs between OSML's models). */
  respondToUnreadableTile(error: Error): ModelResponse;
  /** The answer when `respond` throws. */
  respondToError(error: Error): ModelResponse;
}

export function jsonResponse(status: number, value: unknown): ModelResponse {
  return { status, body: JSON.stringify(value), contentType: 'application/json' };
}

export function textResponse(status: number, body: string): ModelResponse {
  return { status, body, contentType: 'text/plain; charset=utf-8' };
}

/** centerpoint and flood: OSML's wording for an unreadable payload and for any other error. */
export const UNPARSABLE_IMAGE_RESPONSE = textResponse(400, 'Unable to parse image from request!');
export const PROCESSING_ERROR_RESPONSE = textResponse(500, 'Unable to process request.');
