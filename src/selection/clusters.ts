// Splitting a large bucket into clusters of boxes connected by intersection. Boxes in different clusters have IoU 0
// with each other, so NMS and Soft-NMS can run on each cluster alone with the same result; small clusters are then
// compared pair by pair instead of through score-ordered index searches, which jump around memory and cost about
// 2 µs each at a million boxes.
import { indexBoxes } from './boxes.js';
import { bucketsFromIds, type Buckets } from './scope.js';

/** Buckets at least this large are split into clusters first. */
export const CLUSTER_MIN_BOXES = 2048;

/** Ranks 0..k-1 of `members` ordered along a Z-order (Morton) curve of box centres, for cache-friendly scanning. */
function spatialOrder(boxes: Float64Array, members: Int32Array): Int32Array {
  const k = members.length;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const cx = new Float64Array(k);
  const cy = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    const p = members[a]! * 4;
    cx[a] = (boxes[p]! + boxes[p + 2]!) / 2;
    cy[a] = (boxes[p + 1]! + boxes[p + 3]!) / 2;
    minX = Math.min(minX, cx[a]!);
    maxX = Math.max(maxX, cx[a]!);
    minY = Math.min(minY, cy[a]!);
    maxY = Math.max(maxY, cy[a]!);
  }
  const sx = maxX > minX ? 65535 / (maxX - minX) : 0;
  const sy = maxY > minY ? 65535 / (maxY - minY) : 0;
  const spread = (v: number): number => {
    v = (v | (v << 8)) & 0x00ff00ff;
    v = (v | (v << 4)) & 0x0f0f0f0f;
    v = (v | (v << 2)) & 0x33333333;
    return (v | (v << 1)) & 0x55555555;
  };
  const codes = new Uint32Array(k);
  for (let a = 0; a < k; a++) {
    codes[a] = (spread(((cx[a]! - minX) * sx) | 0) | (spread(((cy[a]! - minY) * sy) | 0) << 1)) >>> 0;
  }
  // Two-pass LSD radix sort on 16-bit digits.
  let order = new Int32Array(k);
  for (let a = 0; a < k; a++) order[a] = a;
  let next = new Int32Array(k);
  const counts = new Uint32Array(65536);
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let a = 0; a < k; a++) counts[(codes[order[a]!]! >>> shift) & 0xffff]!++;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let a = 0; a < k; a++) next[counts[(codes[order[a]!]! >>> shift) & 0xffff]!++] = order[a]!;
    [order, next] = [next, order];
  }
  return order;
}

function find(parent: Int32Array, a: number): number {
  while (parent[a] !== a) {
    parent[a] = parent[parent[a]!]!; // path halving
    a = parent[a]!;
  }
  return a;
}

/**
 * Connected components of `members` (positions into `boxes`) under "rectangles intersect or touch", as buckets of
 * positions; each cluster keeps the order of `members`, clusters are numbered by first appearance.
 */
export function spatialClusters(boxes: Float64Array, members: Int32Array): Buckets {
  const k = members.length;
  const index = indexBoxes(boxes, members);
  const parent = new Int32Array(k);
  for (let a = 0; a < k; a++) parent[a] = a;
  for (const a of spatialOrder(boxes, members)) {
    const p = members[a]! * 4;
    index.search(boxes[p]!, boxes[p + 1]!, boxes[p + 2]!, boxes[p + 3]!, (b) => {
      if (b > a) {
        const ra = find(parent, a);
        const rb = find(parent, b);
        if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
      }
      return false;
    });
  }
  const clusterOf = new Int32Array(k);
  const ids = new Int32Array(k).fill(-1);
  let count = 0;
  for (let a = 0; a < k; a++) {
    const root = find(parent, a);
    if (ids[root]! < 0) ids[root] = count++;
    clusterOf[a] = ids[root]!;
  }
  return bucketsFromIds(members, clusterOf, count);
}
