// OSML's overlap-aware grouping for de-duplication (`cleanup_duplicate_features`, reference §3.7): only detections
// lying in a region overlap or a tile overlap can be duplicates, and only detections of the same overlap can be
// duplicates of each other. Every detection gets a key naming the span of grid cells it touches; multi-cell keys
// are overlap groups. Detections are never cropped; only whole detections are later dropped.
//
// Deliberate difference (weak point 9): keys are measured from the processing-bounds origin (the ROI corner), where
// the regions actually start; OSML measures region keys from (0, 0), which mis-groups every ROI that does not start
// at a multiple of the region stride.
import type { Size, TilingPlan } from '../tiling/index.js';
import { KeyTable } from './key-table.js';

/** [minX, maxX, minY, maxY]: first and last grid cell the box touches along each axis. */
export type OverlapKey = [minX: number, maxX: number, minY: number, maxY: number];

export interface Origin {
  x: number;
  y: number;
}

/** Python's non-negative `%` for a positive divisor (JS `%` keeps the dividend's sign). */
function pyMod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

/**
 * First cell index along one axis. Cells are `cell` long and start every `stride = cell - overlap`; a coordinate in
 * the first `overlap` pixels of cell i is also inside cell i-1, hence the step back. Truncation toward zero and the
 * modulo of the truncated coordinate reproduce Python's `int(v / s)` and `int(v) % s` (reference §16.23).
 */
function firstCell(v: number, stride: number, overlap: number): number {
  let index = Math.trunc(v / stride);
  if (pyMod(Math.trunc(v), stride) < overlap && index > 0) index -= 1;
  return index;
}

function lastCell(v: number, stride: number): number {
  return Math.trunc(v / stride);
}

/** OSML `_identify_overlap`: the key of box [minx, miny, maxx, maxy] on a grid of `cell` cells overlapping by `overlap`. */
export function overlapKey(
  bounds: ArrayLike<number>,
  cell: Size,
  overlap: Size,
  origin: Origin = { x: 0, y: 0 },
): OverlapKey {
  const strideX = cell.width - overlap.width;
  const strideY = cell.height - overlap.height;
  const x1 = bounds[0]! - origin.x;
  const y1 = bounds[1]! - origin.y;
  const x2 = bounds[2]! - origin.x;
  const y2 = bounds[3]! - origin.y;
  // `+ 0` turns the -0 that Math.trunc gives for small negatives into 0.
  return [
    firstCell(x1, strideX, overlap.width) + 0,
    lastCell(x2, strideX) + 0,
    firstCell(y1, strideY, overlap.height) + 0,
    lastCell(y2, strideY) + 0,
  ];
}

export function isSingleCell(key: OverlapKey): boolean {
  return key[0] === key[1] && key[2] === key[3];
}

/** Group id per detection: -1 = in no overlap (kept as is), otherwise an overlap group numbered from 0. */
export interface OverlapGroups {
  groups: Int32Array;
  groupCount: number;
}

/**
 * OSML's two-level grouping over a plan's grid: region keys on cells of R' overlapping by O'; a detection inside a
 * single region is then keyed on that region's tiles (cells of T overlapping by O', origin at the region corner).
 * Multi-cell region keys and multi-cell tile keys (per region) are the overlap groups.
 * `boxes` holds 4 numbers per detection (minx, miny, maxx, maxy), unpadded as in OSML.
 */
export function keyOverlapGroups(boxes: Float64Array, plan: TilingPlan): OverlapGroups {
  const count = boxes.length / 4;
  const o = plan.effectiveOverlap;
  const regionStrideX = plan.regionSize.width - o.width;
  const regionStrideY = plan.regionSize.height - o.height;
  const tileStrideX = plan.tileSize.width - o.width;
  const tileStrideY = plan.tileSize.height - o.height;
  const originX = plan.bounds.x;
  const originY = plan.bounds.y;

  const groups = new Int32Array(count);
  // Region-level groups are keyed by the region key, tile-level groups by region key + tile key.
  const regionGroups = new KeyTable(4, 1024);
  const tileGroups = new KeyTable(8, Math.min(count, 1 << 20) >> 2); // overlap groups hold 2+ detections
  const key = new Int32Array(8);
  let groupCount = 0;
  const nextGroup = (): number => groupCount++;

  for (let i = 0; i < count; i++) {
    const x1 = boxes[i * 4]! - originX;
    const y1 = boxes[i * 4 + 1]! - originY;
    const x2 = boxes[i * 4 + 2]! - originX;
    const y2 = boxes[i * 4 + 3]! - originY;
    const rMinX = firstCell(x1, regionStrideX, o.width);
    const rMaxX = lastCell(x2, regionStrideX);
    const rMinY = firstCell(y1, regionStrideY, o.height);
    const rMaxY = lastCell(y2, regionStrideY);
    key[0] = rMinX;
    key[1] = rMaxX;
    key[2] = rMinY;
    key[3] = rMaxY;
    if (rMinX !== rMaxX || rMinY !== rMaxY) {
      groups[i] = regionGroups.idOf(key, nextGroup);
      continue;
    }
    // Inside one region: key on its tile grid, measured from the region corner.
    const tx1 = x1 - regionStrideX * rMinX;
    const ty1 = y1 - regionStrideY * rMinY;
    const tx2 = x2 - regionStrideX * rMinX;
    const ty2 = y2 - regionStrideY * rMinY;
    key[4] = firstCell(tx1, tileStrideX, o.width);
    key[5] = lastCell(tx2, tileStrideX);
    key[6] = firstCell(ty1, tileStrideY, o.height);
    key[7] = lastCell(ty2, tileStrideY);
    groups[i] = key[4] !== key[5] || key[6] !== key[7] ? tileGroups.idOf(key, nextGroup) : -1;
  }
  return { groups, groupCount };
}
