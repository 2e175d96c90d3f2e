// OSML's default tiling (VariableOverlapTilingStrategy, reference §3.3–3.4): every tile is full size; the overlap is
// widened so a whole number of tiles spans the processing bounds, and regions are sized to hold whole tiles.
// Known limitation kept for compatibility: the widened grid can stop up to n−1 pixels short of the right/bottom
// edge (reference §16.12); see full-coverage.ts for the strategy that covers every pixel.
import { crops } from './crops.js';
import type { Size, Window } from './window.js';

/**
 * Widen the overlap along one axis so that tiles of length `tile` starting at 0 end as close as possible to
 * `length` (OSML `expand_overlap`). Returns the requested overlap when one tile (or none) spans the axis.
 */
export function expandOverlap(length: number, tile: number, overlap: number): number {
  const stride = tile - overlap;
  const count = Math.ceil((length - overlap) / stride);
  if (count > 1) {
    const extra = overlap + count * stride - length;
    return overlap + Math.ceil(extra / (count - 1));
  }
  return overlap;
}

/**
 * Shrink a nominal region length along one axis to the largest length holding whole tiles at the effective overlap
 * (OSML `_calculate_region_size_for_full_tiles`).
 */
export function regionSize(nominal: number, tile: number, effectiveOverlap: number): number {
  if (effectiveOverlap >= tile) {
    throw new RangeError(`tile overlap ${effectiveOverlap} must be smaller than tile size ${tile}`);
  }
  const stride = tile - effectiveOverlap;
  const tilesPerRegion = Math.floor((nominal - effectiveOverlap) / stride);
  return tilesPerRegion * stride + effectiveOverlap;
}

/** O' for both axes, computed from the size of the area being tiled. */
export function effectiveOverlap(area: Size, tileSize: Size, overlap: Size): Size {
  return {
    width: expandOverlap(area.width, tileSize.width, overlap.width),
    height: expandOverlap(area.height, tileSize.height, overlap.height),
  };
}

/** R' for both axes. */
export function effectiveRegionSize(nominal: Size, tileSize: Size, effOverlap: Size): Size {
  return {
    width: regionSize(nominal.width, tileSize.width, effOverlap.width),
    height: regionSize(nominal.height, tileSize.height, effOverlap.height),
  };
}

export interface VariableOverlapLayout {
  /** O': the widened overlap used between tiles and between regions. */
  effectiveOverlap: Size;
  /** R': the region size holding whole tiles. */
  regionSize: Size;
  /** B': the bounds shrunk to end at the last full tile (equal to the bounds when no full tile fits). */
  coveredBounds: Window;
  regions: Window[];
}

/** Regions plus the intermediate values OSML derives on the way (reference §3.3 steps 1–3). */
export function layoutRegions(bounds: Window, nominalRegion: Size, tileSize: Size, overlap: Size): VariableOverlapLayout {
  const effOverlap = effectiveOverlap(bounds, tileSize, overlap);
  const fullTiles = crops(bounds, tileSize, effOverlap, true);
  const last = fullTiles[fullTiles.length - 1];
  const coveredBounds: Window = last
    ? {
        x: bounds.x,
        y: bounds.y,
        width: last.x + tileSize.width - bounds.x,
        height: last.y + tileSize.height - bounds.y,
      }
    : { ...bounds };
  const effRegion = effectiveRegionSize(nominalRegion, tileSize, effOverlap);
  const regions = crops(coveredBounds, effRegion, effOverlap, false);
  return { effectiveOverlap: effOverlap, regionSize: effRegion, coveredBounds, regions };
}

/** OSML `compute_regions`: regions overlap each other by exactly O', so no tile belongs to two regions. */
export function computeRegions(bounds: Window, nominalRegion: Size, tileSize: Size, overlap: Size): Window[] {
  return layoutRegions(bounds, nominalRegion, tileSize, overlap).regions;
}

/**
 * OSML `compute_tiles`: O'' is recomputed from the region's own size with the *requested* overlap; for regions made
 * by computeRegions this reproduces the global grid. A region thinner than a tile gets partial tiles instead.
 */
export function computeTiles(region: Window, tileSize: Size, overlap: Size): Window[] {
  const regionOverlap = effectiveOverlap(region, tileSize, overlap);
  const tiles = crops(region, tileSize, regionOverlap, true);
  return tiles.length > 0 ? tiles : crops(region, tileSize, regionOverlap, false);
}
