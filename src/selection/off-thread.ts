/**
 * De-duplication of a large detection set on a thread of its own. distill is synchronous, and on pathological input
 * (tens of thousands of boxes that all overlap) it runs for tens of seconds: on the main thread that froze signal
 * handling (SIGTERM waited for it), SQS heartbeats and the health check. Small sets, the usual case, run inline.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { TilingPlan } from '../tiling/index.js';
import { distill, type Distillation, type DistillResult, type PackedDetections } from './index.js';

/** Detections below this count are de-duplicated inline: starting a thread costs more than their distillation. */
export const OFF_THREAD_MIN_DETECTIONS = 20_000;

export function distillOffThread(packed: PackedDetections, plan: TilingPlan, distillation: Distillation, minDetections = OFF_THREAD_MIN_DETECTIONS): Promise<DistillResult> {
  if (distillation.algorithm === 'NONE' || packed.count < minDetections) return Promise.resolve(distill(packed, plan, distillation));
  return new Promise<DistillResult>((resolve, reject) => {
    // The typed arrays are copied into the thread (the caller keeps its own), the result's are moved back.
    const worker = new Worker(join(packageRoot(), 'dist', 'workers', 'distill-worker.js'), { workerData: { packed, plan, distillation } });
    let result: DistillResult | undefined;
    worker.once('message', (message: DistillResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`de-duplication thread exited with code ${code} before its result`))));
  });
}
