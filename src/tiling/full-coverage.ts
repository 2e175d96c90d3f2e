// Full-coverage tiling: OSML's variable-overlap grid, plus one extra column/row of tiles where that grid stops short
// of the right/bottom edge (reference §16.12: up to ~22 rows/cols are otherwise never processed).
//
// Per axis the tiles are: full tiles at the widened overlap O' from the start (stride T − O') while they fit, then,
// if the last one ends before the edge, one more full tile anchored to end exactly at the edge (it overlaps its
// neighbour by more than O'). An axis shorter than a tile gets one partial tile equal to the axis.
//
// Regions: the per-axis tile list is cut into consecutive runs of k = (R' − O') / (T − O') tiles, the number of
// tiles a variable-overlap region of size R' holds; a region is the span of its run. The anchored tile joins the
// last run (or starts its own run when the last run is already full), so a region is never larger than R'. Every
// tile belongs to exactly one run on each axis, hence to exactly one region, and no tile is processed twice;
// neighbouring regions overlap by O' (by more where the anchored tile starts its own region).
// computeTiles re-derives a region's tiles from its window with the same rule and the plan's O' — this yields the
// run back, because a run starts on the global grid and the anchored tile is the only one ending at the edge.
import { effectiveOverlap, effectiveRegionSize } from './variable-overlap.js';
import type { Size, Window } from './window.js';

/** One tile's extent along one axis. */
export interface AxisSpan {
  start: number;
  length: number;
}

/** Tile extents along one axis covering [start, start + length) completely. */
export function axisTiles(start: number, length: number, tile: number, effOverlap: number): AxisSpan[] {
  if (length <= tile) return [{ start, length }];
  const stride = tile - effOverlap;
  const end = start + length;
  const spans: AxisSpan[] = [];
  for (let s = start; s + tile <= end; s += stride) spans.push({ start: s, length: tile });
  const last = spans[spans.length - 1]!;
  if (last.start + tile < end) spans.push({ start: end - tile, length: tile });
  return spans;
}

/** Cut an axis' tile list into runs of `perRun` tiles and return each run's extent. */
function runExtents(tiles: AxisSpan[], perRun: number): AxisSpan[] {
  const runs: AxisSpan[] = [];
  for (let i = 0; i < tiles.length; i += perRun) {
    const first = tiles[i]!;
    const last = tiles[Math.min(i + perRun, tiles.length) - 1]!;
    runs.push({ start: first.start, length: last.start + last.length - first.start });
  }
  return runs;
}

/** Row-major product of row and column extents. */
function product(columns: AxisSpan[], rows: AxisSpan[]): Window[] {
  const out: Window[] = [];
  for (const r of rows) for (const c of columns) out.push({ x: c.start, y: r.start, width: c.length, height: r.length });
  return out;
}

export interface FullCoverageLayout {
  effectiveOverlap: Size;
  regionSize: Size;
  regions: Window[];
}

export function layoutRegions(bounds: Window, nominalRegion: Size, tileSize: Size, overlap: Size): FullCoverageLayout {
  const effOverlap = effectiveOverlap(bounds, tileSize, overlap);
  const effRegion = effectiveRegionSize(nominalRegion, tileSize, effOverlap);
  const perRegionX = (effRegion.width - effOverlap.width) / (tileSize.width - effOverlap.width);
  const perRegionY = (effRegion.height - effOverlap.height) / (tileSize.height - effOverlap.height);
  const columns = axisTiles(bounds.x, bounds.width, tileSize.width, effOverlap.width);
  const rows = axisTiles(bounds.y, bounds.height, tileSize.height, effOverlap.height);
  const regions = product(runExtents(columns, perRegionX), runExtents(rows, perRegionY));
  return { effectiveOverlap: effOverlap, regionSize: effRegion, regions };
}

export function computeRegions(bounds: Window, nominalRegion: Size, tileSize: Size, overlap: Size): Window[] {
  return layoutRegions(bounds, nominalRegion, tileSize, overlap).regions;
}

/** Tiles of one region; `effOverlap` is the plan's O' (not recomputed from the region, unlike variable-overlap). */
export function computeTiles(region: Window, tileSize: Size, effOverlap: Size): Window[] {
  return product(
    axisTiles(region.x, region.width, tileSize.width, effOverlap.width),
    axisTiles(region.y, region.height, tileSize.height, effOverlap.height),
  );
}
