// Per-label non-maximum suppression (OSML FeatureSelector with NMS, reference §5.2).
import { argsortDescending } from './argsort.js';
import { INDEX_MIN_BOXES, indexBoxes, iouAt, selectionBoxes } from './boxes.js';
import { CLUSTER_MIN_BOXES, spatialClusters } from './clusters.js';
import { asPacked, type Detection, type PackedDetections } from './detections.js';
import { groupBuckets, itemValues, scopeItems, type SelectionScope } from './scope.js';

export const DEFAULT_IOU_THRESHOLD = 0.75;

export function checkIouThreshold(iouThreshold: number): void {
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) {
    throw new RangeError(`IoU threshold ${iouThreshold} must be between 0 and 1`);
  }
}

/** What one NMS run shares; positions index boxes/labels/suppressed. */
interface NmsRun {
  boxes: Float64Array;
  labels: Int32Array;
  iouThreshold: number;
  suppressed: Uint8Array;
}

/**
 * Greedy NMS over members[start..end), positions in descending score order: a box is kept unless an earlier kept
 * box of the same label overlaps it with IoU > threshold.
 */
function suppressInCluster(run: NmsRun, members: Int32Array, start: number, end: number): void {
  const { boxes, labels, iouThreshold, suppressed } = run;
  if (end - start < INDEX_MIN_BOXES) {
    for (let a = start; a < end; a++) {
      const p = members[a]!;
      if (suppressed[p]) continue;
      for (let b = a + 1; b < end; b++) {
        const q = members[b]!;
        if (!suppressed[q] && labels[q] === labels[p] && iouAt(boxes, p, q) > iouThreshold) suppressed[q] = 1;
      }
    }
    return;
  }
  const local = members.subarray(start, end);
  const index = indexBoxes(boxes, local);
  for (let a = 0; a < local.length; a++) {
    const p = local[a]!;
    if (suppressed[p]) continue;
    // Search results are ranks in `local`; only later (lower-scored) boxes can still be suppressed. The filter does
    // the work and returns false so search builds no result array.
    index.search(boxes[p * 4]!, boxes[p * 4 + 1]!, boxes[p * 4 + 2]!, boxes[p * 4 + 3]!, (b) => {
      if (b > a) {
        const q = local[b]!;
        if (!suppressed[q] && labels[q] === labels[p] && iouAt(boxes, p, q) > iouThreshold) suppressed[q] = 1;
      }
      return false;
    });
  }
}

/** A large bucket is first split into clusters of intersecting boxes, which cannot affect each other. */
function suppressInBucket(run: NmsRun, members: Int32Array, start: number, end: number): void {
  if (end - start < CLUSTER_MIN_BOXES) return suppressInCluster(run, members, start, end);
  const clusters = spatialClusters(run.boxes, members.subarray(start, end));
  for (let c = 0; c + 1 < clusters.offsets.length; c++) {
    suppressInCluster(run, clusters.members, clusters.offsets[c]!, clusters.offsets[c + 1]!);
  }
}

/**
 * Greedy NMS run independently per label (and per scope group): visit boxes by descending score, keep a box unless
 * an already kept box of the same label overlaps it with IoU > iouThreshold (IoU equal to the threshold survives).
 * Returns the indices of kept detections in descending score order; equal scores keep their order in scope.items.
 * (OSML sorts with numpy's unstable argsort, so its order among exactly equal scores is unspecified.)
 */
export function nms(
  detections: ArrayLike<Detection> | PackedDetections,
  iouThreshold = DEFAULT_IOU_THRESHOLD,
  scope: SelectionScope = {},
): Int32Array {
  checkIouThreshold(iouThreshold);
  const packed = asPacked(detections);
  const items = scopeItems(scope, packed.count);
  const boxes = selectionBoxes(packed.boxes, items);
  const labels = itemValues(packed.labels, items, (n) => new Int32Array(n));
  const order = argsortDescending(itemValues(packed.scores, items, (n) => new Float64Array(n)));
  const { offsets, members } = groupBuckets(order, items, scope.groups);
  const run: NmsRun = { boxes, labels, iouThreshold, suppressed: new Uint8Array(items.length) };
  for (let b = 0; b + 1 < offsets.length; b++) suppressInBucket(run, members, offsets[b]!, offsets[b + 1]!);
  const suppressed = run.suppressed;
  const keep = new Int32Array(items.length);
  let kept = 0;
  for (const p of order) if (!suppressed[p]) keep[kept++] = items[p]!;
  return keep.slice(0, kept);
}
