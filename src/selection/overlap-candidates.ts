// Overlap detection by geometry, for grids whose last tiles break the regular stride (full-coverage tiling): a
// detection can be a duplicate only if its box intersects (or touches) more than one tile window. All such
// candidates form one group; the selection algorithm's spatial index keeps the comparisons local anyway.
import { fullCoverage, type TilingPlan } from '../tiling/index.js';
import type { OverlapGroups } from './overlap-groups.js';

/** Tile extents along one axis as sorted starts and ends (ends are sorted too: equal lengths, or a single tile). */
interface AxisGrid {
  starts: Float64Array;
  ends: Float64Array;
}

function axisGrid(start: number, length: number, tile: number, overlap: number): AxisGrid {
  const spans = fullCoverage.axisTiles(start, length, tile, overlap);
  return {
    starts: Float64Array.from(spans, (s) => s.start),
    ends: Float64Array.from(spans, (s) => s.start + s.length),
  };
}

/** Number of sorted values `<= v` (or `< v` when strict). */
function countBelow(values: Float64Array, v: number, strict: boolean): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (strict ? values[mid]! < v : values[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many tile extents the closed interval [lo, hi] meets: starts <= hi minus those ending before lo. */
function hits(grid: AxisGrid, lo: number, hi: number): number {
  return countBelow(grid.starts, hi, false) - countBelow(grid.ends, lo, true);
}

/** Group 0 = detections touching two or more tiles of a full-coverage plan; -1 = inside a single tile. */
export function tileOverlapCandidates(boxes: Float64Array, plan: TilingPlan): OverlapGroups {
  if (plan.strategy !== 'full-coverage') {
    throw new RangeError(`tile-overlap candidates need a full-coverage plan, not ${JSON.stringify(plan.strategy)}`);
  }
  const { bounds, tileSize, effectiveOverlap } = plan;
  const columns = axisGrid(bounds.x, bounds.width, tileSize.width, effectiveOverlap.width);
  const rows = axisGrid(bounds.y, bounds.height, tileSize.height, effectiveOverlap.height);
  const count = boxes.length / 4;
  const groups = new Int32Array(count);
  let any = false;
  for (let i = 0; i < count; i++) {
    const x1 = Math.min(boxes[i * 4]!, boxes[i * 4 + 2]!);
    const x2 = Math.max(boxes[i * 4]!, boxes[i * 4 + 2]!);
    const y1 = Math.min(boxes[i * 4 + 1]!, boxes[i * 4 + 3]!);
    const y2 = Math.max(boxes[i * 4 + 1]!, boxes[i * 4 + 3]!);
    const candidate = hits(columns, x1, x2) * hits(rows, y1, y2) > 1;
    groups[i] = candidate ? 0 : -1;
    any ||= candidate;
  }
  return { groups, groupCount: any ? 1 : 0 };
}
