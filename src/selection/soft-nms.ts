// Gaussian Soft-NMS per label (OSML FeatureSelector with SOFT_NMS, reference §5.2).
import { argsortDescending } from './argsort.js';
import { INDEX_MIN_BOXES, indexBoxes, iouAt, selectionBoxes } from './boxes.js';
import { CLUSTER_MIN_BOXES, spatialClusters } from './clusters.js';
import { asPacked, type Detection, type PackedDetections } from './detections.js';
import { ScoreHeap } from './score-heap.js';
import { groupBuckets, itemValues, scopeItems, type SelectionScope } from './scope.js';

export const DEFAULT_SIGMA = 0.1;
export const DEFAULT_SKIP_BOX_THRESHOLD = 0.0001;

export interface SoftNmsOptions {
  /** Gaussian width: a box decays by exp(-IoU² / sigma) for each higher box of its label (default 0.1). */
  sigma?: number;
  /** Boxes whose final decayed score is not above this are dropped (default 0.0001). */
  skipBoxThreshold?: number;
}

export interface SoftNmsResult {
  /** Kept detection indices in processing order (descending final score). */
  keep: Int32Array;
  /** Decayed score of each kept detection, parallel to `keep`. */
  scores: Float64Array;
}

/** State shared by the buckets of one run; positions index boxes/labels/current/taken. */
interface SoftNmsRun {
  boxes: Float64Array;
  labels: Int32Array;
  current: Float64Array;
  sigma: number;
  taken: Uint8Array;
  /** Positions in processing order, filled as boxes are taken. */
  processed: Int32Array;
  processedCount: number;
}

/** Decay q by p if they share a label and overlap. */
function decay(run: SoftNmsRun, p: number, q: number): boolean {
  if (run.labels[q] !== run.labels[p]) return false;
  const iou = iouAt(run.boxes, p, q);
  if (iou <= 0) return false;
  run.current[q] = run.current[q]! * Math.exp(-(iou * iou) / run.sigma);
  return true;
}

function take(run: SoftNmsRun, p: number): void {
  run.taken[p] = 1;
  run.processed[run.processedCount++] = p;
}

/** A large bucket is first split into clusters of intersecting boxes, which cannot affect each other. */
function processBucket(run: SoftNmsRun, members: Int32Array, start: number, end: number): void {
  if (end - start < CLUSTER_MIN_BOXES) return processCluster(run, members, start, end);
  const clusters = spatialClusters(run.boxes, members.subarray(start, end));
  for (let c = 0; c + 1 < clusters.offsets.length; c++) {
    processCluster(run, clusters.members, clusters.offsets[c]!, clusters.offsets[c + 1]!);
  }
}

/**
 * Boxes members[start..end) in initial score order. Each step takes the untaken box with the highest current score
 * (equal scores: the one ranked first initially) and decays the untaken boxes of its label.
 */
function processCluster(run: SoftNmsRun, members: Int32Array, start: number, end: number): void {
  const { current, taken } = run;
  const k = end - start;
  if (k < INDEX_MIN_BOXES) {
    for (let step = 0; step < k; step++) {
      let best = -1;
      for (let a = start; a < end; a++) {
        const p = members[a]!;
        if (!taken[p] && (best < 0 || current[p]! > current[best]!)) best = p;
      }
      take(run, best);
      for (let a = start; a < end; a++) if (!taken[members[a]!]) decay(run, best, members[a]!);
    }
    return;
  }
  const local = members.subarray(start, end);
  const index = indexBoxes(run.boxes, local);
  const heap = new ScoreHeap(k * 2);
  for (let a = 0; a < k; a++) heap.push(a, current[local[a]!]!);
  const b = run.boxes;
  while (heap.size > 0) {
    const score = heap.peekScore()!;
    const p = local[heap.pop()]!;
    if (taken[p] || score !== current[p]) continue; // stale entry from before a decay
    take(run, p);
    index.search(b[p * 4]!, b[p * 4 + 1]!, b[p * 4 + 2]!, b[p * 4 + 3]!, (c) => {
      const q = local[c]!;
      if (!taken[q] && decay(run, p, q)) heap.push(c, current[q]!);
      return false;
    });
  }
}

/**
 * Repeatedly take the box with the highest current score, then decay every not-yet-taken box of the same label by
 * exp(-IoU²/sigma); finally keep boxes whose decayed score is > skipBoxThreshold. Every box is processed (even one
 * already below the threshold still decays lower ones), as in OSML. OSML's gaussian mode ignores the IoU threshold.
 * Unlike OSML, which copies the original score back (weak point 11), the decayed score is returned; callers keep the
 * original as rawScore. Equal current scores go to the box ranked first initially (higher original score, then
 * earlier in scope.items); OSML's choice among exact ties depends on its swap history.
 */
export function softNms(
  detections: ArrayLike<Detection> | PackedDetections,
  options: SoftNmsOptions = {},
  scope: SelectionScope = {},
): SoftNmsResult {
  const sigma = options.sigma ?? DEFAULT_SIGMA;
  const skipBoxThreshold = options.skipBoxThreshold ?? DEFAULT_SKIP_BOX_THRESHOLD;
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new RangeError(`Soft-NMS sigma ${sigma} must be a positive number`);
  if (Number.isNaN(skipBoxThreshold)) throw new RangeError(`Soft-NMS skip box threshold ${skipBoxThreshold} must be a number`);

  const packed = asPacked(detections);
  const items = scopeItems(scope, packed.count);
  const m = items.length;
  const current = itemValues(packed.scores, items, (n) => new Float64Array(n));
  const order = argsortDescending(current);
  const { offsets, members } = groupBuckets(order, items, scope.groups);
  const run: SoftNmsRun = {
    boxes: selectionBoxes(packed.boxes, items),
    labels: itemValues(packed.labels, items, (n) => new Int32Array(n)),
    current,
    sigma,
    taken: new Uint8Array(m),
    processed: new Int32Array(m),
    processedCount: 0,
  };
  for (let b = 0; b + 1 < offsets.length; b++) processBucket(run, members, offsets[b]!, offsets[b + 1]!);

  // A box's score is final once it is taken and every step takes the highest current score, so processing order
  // is descending final score; sorting restores it across groups and clusters (stable: ties keep their order).
  const kept = run.processed.filter((p) => current[p]! > skipBoxThreshold);
  const finalScores = itemValues(current, kept, (n) => new Float64Array(n));
  const byScore = argsortDescending(finalScores);
  const keep = new Int32Array(kept.length);
  const scores = new Float64Array(kept.length);
  for (let k = 0; k < byScore.length; k++) {
    keep[k] = items[kept[byScore[k]!]!]!;
    scores[k] = finalScores[byScore[k]!]!;
  }
  return { keep, scores };
}
