/**
 * A tile's metrics, as OSML's tile worker emits them (reference §10), from the timings the worker returns:
 * - TileGeneration {Operation, InputFormat}: Invocations, Duration (reading the pixels, converting and encoding
 *   them: what OSML's gdal.Translate of the tile does), Errors when no tile was produced;
 * - ModelInvocation {Operation, ModelName}: Invocations, Duration, Retries (attempts - 1), Errors when the model
 *   call failed; only for tiles that reached the model;
 * - FeatureRefinement {Operation}: Invocations, Duration; only for tiles whose features were refined;
 * - TileProcessing {Operation, ModelName}: Invocations, Duration (the whole tile), Errors when the tile failed.
 * ModelName is the endpoint name or URL, for HTTP endpoints too (OSML writes the literal "http" there, §16.14).
 * One event per tile and operation: Metrics batches them into value arrays, so this stays cheap.
 */
import type { Metrics } from '../metrics/emf.js';
import type { TileResult, TileTimings } from '../pipeline/tile-task.js';
import type { TileFailureDetails } from '../pipeline/process-tiles.js';

export interface TileMetricDimensions {
  modelName: string;
  inputFormat?: string;
}

const seconds = (...ms: (number | undefined)[]) => ms.reduce<number>((s, v) => s + (v ?? 0), 0) / 1000;

export function recordTileSucceeded(metrics: Metrics, dims: TileMetricDimensions, result: TileResult, readMs: number): void {
  const t = result.timings;
  recordStages(metrics, dims, t, readMs, { attempts: result.attempts });
  metrics.record('TileProcessing', { duration: seconds(readMs, t.convertMs, t.encodeMs, t.invokeMs, t.refineMs), invocations: 1 }, { modelName: dims.modelName });
}

export function recordTileFailed(metrics: Metrics, dims: TileMetricDimensions, details: TileFailureDetails): void {
  const t = details.timings ?? {};
  if (details.stage) recordStages(metrics, dims, t, details.readMs, { failedStage: details.stage, ...(details.attempts !== undefined ? { attempts: details.attempts } : {}) });
  metrics.record('TileProcessing', { duration: seconds(details.readMs, t.convertMs, t.encodeMs, t.invokeMs, t.refineMs), invocations: 1, errors: 1 }, { modelName: dims.modelName });
}

function recordStages(metrics: Metrics, dims: TileMetricDimensions, t: Partial<TileTimings>, readMs: number | undefined, o: { failedStage?: 'generation' | 'invocation' | 'refinement'; attempts?: number }): void {
  const generation = { duration: seconds(readMs, t.convertMs, t.encodeMs), invocations: 1 };
  metrics.record('TileGeneration', o.failedStage === 'generation' ? { ...generation, errors: 1 } : generation, dims.inputFormat ? { inputFormat: dims.inputFormat } : {});
  if (o.failedStage === 'generation') return;
  const invocation = { duration: seconds(t.invokeMs), invocations: 1, retries: Math.max(0, (o.attempts ?? 1) - 1) };
  metrics.record('ModelInvocation', o.failedStage === 'invocation' ? { ...invocation, errors: 1 } : invocation, { modelName: dims.modelName });
  if (o.failedStage === 'invocation') return;
  // OSML's refinement has no Errors metric: a refinement failure shows as the tile's TileProcessing error.
  metrics.record('FeatureRefinement', { ...(t.refineMs !== undefined ? { duration: t.refineMs / 1000 } : {}), invocations: 1 });
}
