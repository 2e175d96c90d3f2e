/**
 * One de-duplication off the main thread (see distillOffThread): the packed detections and the plan arrive as
 * workerData, the kept indices and their scores go back with their buffers transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { distill, type Distillation, type PackedDetections } from '../src/selection/index.js';
import type { TilingPlan } from '../src/tiling/index.js';

const { packed, plan, distillation } = workerData as { packed: PackedDetections; plan: TilingPlan; distillation: Distillation };
const { keep, scores } = distill(packed, plan, distillation);
parentPort!.postMessage({ keep, scores }, [keep.buffer as ArrayBuffer, scores.buffer as ArrayBuffer]);
