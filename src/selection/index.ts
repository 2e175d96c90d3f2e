// Feature distillation: removing the duplicate detections that tile overlaps produce (reference §3.7, §5.2).
import type { TilingPlan } from '../tiling/index.js';
import { asPacked, type Detection, type PackedDetections } from './detections.js';
import { DEFAULT_IOU_THRESHOLD, nms } from './nms.js';
import { tileOverlapCandidates } from './overlap-candidates.js';
import { keyOverlapGroups, type OverlapGroups } from './overlap-groups.js';
import { DEFAULT_SIGMA, DEFAULT_SKIP_BOX_THRESHOLD, softNms } from './soft-nms.js';

export { boxIou, ZERO_SIZE_PADDING } from './boxes.js';
export { packDetections, type Detection, type PackedDetections } from './detections.js';
export { DEFAULT_IOU_THRESHOLD, nms } from './nms.js';
export { tileOverlapCandidates } from './overlap-candidates.js';
export { isSingleCell, keyOverlapGroups, overlapKey, type OverlapGroups, type OverlapKey } from './overlap-groups.js';
export type { SelectionScope } from './scope.js';
export { DEFAULT_SIGMA, DEFAULT_SKIP_BOX_THRESHOLD, softNms, type SoftNmsOptions, type SoftNmsResult } from './soft-nms.js';

export type Distillation =
  | { algorithm: 'NMS'; iouThreshold: number }
  | { algorithm: 'SOFT_NMS'; iouThreshold: number; skipBoxThreshold: number; sigma: number }
  | { algorithm: 'NONE' };

/** OSML defaults (reference §5.2); iouThreshold is carried for SOFT_NMS but unused by the gaussian method. */
export const DEFAULT_NMS: Distillation = { algorithm: 'NMS', iouThreshold: DEFAULT_IOU_THRESHOLD };
export const DEFAULT_SOFT_NMS: Distillation = {
  algorithm: 'SOFT_NMS',
  iouThreshold: DEFAULT_IOU_THRESHOLD,
  skipBoxThreshold: DEFAULT_SKIP_BOX_THRESHOLD,
  sigma: DEFAULT_SIGMA,
};

export interface DistillResult {
  /** Indices of the detections that survive, ascending. */
  keep: Int32Array;
  /** Final score per kept detection, parallel to `keep` (decayed for Soft-NMS, original otherwise). */
  scores: Float64Array;
}

/** The overlap groups of a plan: OSML keys on regular grids, tile geometry on full-coverage grids. */
export function overlapGroups(boxes: Float64Array, plan: TilingPlan): OverlapGroups {
  return plan.strategy === 'full-coverage' ? tileOverlapCandidates(boxes, plan) : keyOverlapGroups(boxes, plan);
}

/**
 * De-duplicate the detections of one image tiled by `plan`: detections outside every overlap are kept unchanged;
 * the algorithm runs within each overlap group (one pass over all groups, interactions limited to a group).
 */
export function distill(
  detections: ArrayLike<Detection> | PackedDetections,
  plan: TilingPlan,
  distillation: Distillation,
): DistillResult {
  const packed = asPacked(detections);
  const { count, scores: original } = packed;
  const finalScores = Float64Array.from(original);

  const algorithm = distillation.algorithm;
  if (algorithm === 'NONE') {
    const keep = new Int32Array(count);
    for (let i = 0; i < count; i++) keep[i] = i;
    return { keep, scores: finalScores };
  }
  if (algorithm !== 'NMS' && algorithm !== 'SOFT_NMS') {
    throw new RangeError(`unknown distillation algorithm ${JSON.stringify(algorithm)}`);
  }

  const { groups } = overlapGroups(packed.boxes, plan);
  let candidateCount = 0;
  for (let i = 0; i < count; i++) if (groups[i]! >= 0) candidateCount++;
  const candidates = new Int32Array(candidateCount);
  for (let i = 0, k = 0; i < count; i++) if (groups[i]! >= 0) candidates[k++] = i;
  const scope = { items: candidates, groups };

  // survives[i]: 1 for detections outside overlaps, and for candidates the algorithm keeps.
  const survives = new Uint8Array(count);
  for (let i = 0; i < count; i++) survives[i] = groups[i]! < 0 ? 1 : 0;
  if (algorithm === 'NMS') {
    for (const i of nms(packed, distillation.iouThreshold ?? DEFAULT_IOU_THRESHOLD, scope)) survives[i] = 1;
  } else {
    const result = softNms(
      packed,
      {
        sigma: distillation.sigma ?? DEFAULT_SIGMA,
        skipBoxThreshold: distillation.skipBoxThreshold ?? DEFAULT_SKIP_BOX_THRESHOLD,
      },
      scope,
    );
    for (let k = 0; k < result.keep.length; k++) {
      survives[result.keep[k]!] = 1;
      finalScores[result.keep[k]!] = result.scores[k]!;
    }
  }

  let kept = 0;
  for (let i = 0; i < count; i++) kept += survives[i]!;
  const keep = new Int32Array(kept);
  const scores = new Float64Array(kept);
  for (let i = 0, k = 0; i < count; i++) {
    if (survives[i]) {
      keep[k] = i;
      scores[k] = finalScores[i]!;
      k++;
    }
  }
  return { keep, scores };
}
