/**
 * Test-model settings: read once from the environment when the server starts (OSML reads them at import time),
 * then adjusted per request from the CustomAttributes header.
 */
import type { CustomAttributes } from './custom-attributes.js';
import type { ModelParams } from './models/model.js';

export interface ModelServerSettings {
  /** Env `DEFAULT_MODEL_SELECTION`, else the legacy `MODEL_SELECTION`; '' when neither is set. */
  defaultModelSelection: string;
  params: ModelParams;
}

export const DEFAULT_MODEL_PARAMS: ModelParams = {
  bboxPercentage: 0.1,
  enableSegmentation: false,
  floodVolume: 100,
  failureTimeoutMs: 5000,
};

export function readModelServerSettings(env: NodeJS.ProcessEnv): ModelServerSettings {
  return {
    defaultModelSelection: env.DEFAULT_MODEL_SELECTION || env.MODEL_SELECTION || '',
    params: {
      bboxPercentage: parseNumber(env.BBOX_PERCENTAGE) ?? DEFAULT_MODEL_PARAMS.bboxPercentage,
      enableSegmentation: (env.ENABLE_SEGMENTATION ?? 'false').toLowerCase() === 'true',
      // Python's range() of a negative volume is empty, hence the clamp to 0.
      floodVolume: Math.max(0, parseInteger(env.FLOOD_VOLUME) ?? DEFAULT_MODEL_PARAMS.floodVolume),
      failureTimeoutMs: Math.max(0, parseNumber(env.FAILURE_TIMEOUT_MS) ?? DEFAULT_MODEL_PARAMS.failureTimeoutMs),
    },
  };
}

/** The model named in CustomAttributes `model_selection`, else the server default; trimmed and lower-cased. */
export function selectModelName(attributes: CustomAttributes, settings: ModelServerSettings): string {
  const selection = attributes.model_selection || settings.defaultModelSelection;
  return selection.trim().toLowerCase();
}

/** Per-request overrides: CustomAttributes `flood_volume` (an integer >= 0; anything else is ignored). */
export function paramsForRequest(base: ModelParams, attributes: CustomAttributes): ModelParams {
  const floodVolume = parseInteger(attributes.flood_volume);
  return floodVolume !== undefined && floodVolume >= 0 ? { ...base, floodVolume } : base;
}

function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function parseInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*[+-]?\d+\s*$/.test(text)) return undefined;
  return Number.parseInt(text, 10);
}
