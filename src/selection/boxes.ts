// Box geometry for selection: OSML's zero-size padding, IoU, and a spatial index so a box only meets its neighbours.
import Flatbush from 'flatbush';

/** OSML gives a zero-width/height box (a point or a line) 0.1 px on maxx/maxy so it has an area (reference §5.2). */
export const ZERO_SIZE_PADDING = 0.1;

/**
 * The boxes of `items` (4 numbers each, in `items` order) as selection sees them: min/max ordered and padded.
 * OSML also normalises boxes to the group extent; IoU is invariant to that scaling, so it is skipped here (it would
 * only add rounding error, e.g. to an IoU exactly equal to the threshold).
 */
export function selectionBoxes(boxes: Float64Array, items: ArrayLike<number>): Float64Array {
  const out = new Float64Array(items.length * 4);
  for (let p = 0; p < items.length; p++) {
    const i = items[p]! * 4;
    let x1 = boxes[i]!;
    let y1 = boxes[i + 1]!;
    let x2 = boxes[i + 2]!;
    let y2 = boxes[i + 3]!;
    if (x2 < x1) [x1, x2] = [x2, x1];
    if (y2 < y1) [y1, y2] = [y2, y1];
    if (x2 === x1) x2 += ZERO_SIZE_PADDING;
    if (y2 === y1) y2 += ZERO_SIZE_PADDING;
    out[p * 4] = x1;
    out[p * 4 + 1] = y1;
    out[p * 4 + 2] = x2;
    out[p * 4 + 3] = y2;
  }
  return out;
}

/** Intersection over union of boxes p and q of a 4-per-box array (0 when they only touch). */
export function iouAt(b: Float64Array, p: number, q: number): number {
  const pi = p * 4;
  const qi = q * 4;
  const w = Math.min(b[pi + 2]!, b[qi + 2]!) - Math.max(b[pi]!, b[qi]!);
  if (w <= 0) return 0;
  const h = Math.min(b[pi + 3]!, b[qi + 3]!) - Math.max(b[pi + 1]!, b[qi + 1]!);
  if (h <= 0) return 0;
  const inter = w * h;
  const areaP = (b[pi + 2]! - b[pi]!) * (b[pi + 3]! - b[pi + 1]!);
  const areaQ = (b[qi + 2]! - b[qi]!) * (b[qi + 3]! - b[qi + 1]!);
  return inter / (areaP + areaQ - inter);
}

/** IoU of two [minx, miny, maxx, maxy] boxes with the same padding selection applies. */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  return iouAt(selectionBoxes(Float64Array.from([...a.slice(0, 4), ...b.slice(0, 4)]), [0, 1]), 0, 1);
}

/**
 * Buckets smaller than this compare every pair (cheaper than building an index); larger ones use a Flatbush index so
 * a box meets only the boxes its rectangle intersects or touches. Boxes that do not even touch have IoU 0, which
 * neither NMS nor gaussian Soft-NMS acts on, so skipping them changes nothing.
 */
export const INDEX_MIN_BOXES = 64;

/** Index over the boxes of `members` (positions into `b`); search results are indices into `members`. */
export function indexBoxes(b: Float64Array, members: Int32Array): Flatbush {
  const index = new Flatbush(members.length);
  for (const p of members) index.add(b[p * 4]!, b[p * 4 + 1]!, b[p * 4 + 2]!, b[p * 4 + 3]!);
  index.finish();
  return index;
}
