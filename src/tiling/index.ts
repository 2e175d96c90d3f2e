// Tiling plans: which regions (units of work) and tiles (model inputs) cover the processing bounds of an image.
import * as fullCoverage from './full-coverage.js';
import * as variableOverlap from './variable-overlap.js';
import * as variableTile from './variable-tile.js';
import type { Size, Window } from './window.js';

export { crops } from './crops.js';
export * from './window.js';
export { fullCoverage, variableOverlap, variableTile };

export type TilingStrategyName = 'variable-overlap' | 'variable-tile' | 'full-coverage';

export const TILING_STRATEGIES: readonly TilingStrategyName[] = ['variable-overlap', 'variable-tile', 'full-coverage'];

export interface TilingPlan {
  strategy: TilingStrategyName;
  /** The processing bounds (whole image or ROI) that were asked for. */
  bounds: Window;
  tileSize: Size;
  /** The requested overlap. */
  overlap: Size;
  /** O': the overlap actually used between tiles and between regions (= overlap for variable-tile). */
  effectiveOverlap: Size;
  /** R': the region size actually used (= the nominal size for variable-tile). */
  regionSize: Size;
  /** The part of `bounds` the tiles cover: smaller than `bounds` only for variable-overlap (reference §16.12). */
  coveredBounds: Window;
  regions: Window[];
}

export interface TilingRequest {
  bounds: Window;
  tileSize: Size;
  overlap: Size;
  /** Nominal region size; must be at least the tile size. */
  regionSize: Size;
  strategy?: TilingStrategyName;
}

function requireInteger(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    const kind = min > 0 ? 'a positive integer' : 'a non-negative integer';
    throw new RangeError(`${what} ${value} must be ${kind}`);
  }
}

function validate(request: TilingRequest): void {
  const { bounds, tileSize, overlap, regionSize } = request;
  requireInteger(bounds.x, 'bounds x', 0);
  requireInteger(bounds.y, 'bounds y', 0);
  requireInteger(bounds.width, 'bounds width', 1);
  requireInteger(bounds.height, 'bounds height', 1);
  for (const axis of ['width', 'height'] as const) {
    requireInteger(tileSize[axis], `tile ${axis}`, 1);
    requireInteger(overlap[axis], `tile overlap ${axis}`, 0);
    requireInteger(regionSize[axis], `region ${axis}`, 1);
    if (overlap[axis] >= tileSize[axis]) {
      throw new RangeError(`tile overlap ${overlap[axis]} must be smaller than tile size ${tileSize[axis]} (${axis})`);
    }
    // OSML crashes deep inside region computation in this case (reference §16.12); say why instead.
    if (regionSize[axis] < tileSize[axis]) {
      throw new RangeError(`region size ${regionSize[axis]} must not be smaller than tile size ${tileSize[axis]} (${axis})`);
    }
  }
}

export function planTiling(request: TilingRequest): TilingPlan {
  const plan = planStrategy(narrowAxes(request));
  // OSML drops regions and tiles not larger than the overlap, so an image smaller than the overlap (e.g. 64x64 at
  // overlap 128) yields no work at all; Tessera processes it as one partial tile equal to the image.
  if (plan.regions.length === 0) return { ...plan, coveredBounds: { ...plan.bounds }, regions: [{ ...plan.bounds }] };
  return plan;
}

/**
 * An axis no longer than the overlap (a 20000x100 strip at overlap 128) gets no tiles at all from OSML's crops; along
 * that axis the tile is the whole extent with no overlap, so the other axis is still cut into tiles of the size asked.
 */
function narrowAxes(request: TilingRequest): TilingRequest {
  const { bounds, tileSize, overlap } = request;
  const narrowW = bounds.width <= overlap.width && bounds.width < tileSize.width;
  const narrowH = bounds.height <= overlap.height && bounds.height < tileSize.height;
  if (!narrowW && !narrowH) return request;
  return {
    ...request,
    tileSize: { width: narrowW ? bounds.width : tileSize.width, height: narrowH ? bounds.height : tileSize.height },
    overlap: { width: narrowW ? 0 : overlap.width, height: narrowH ? 0 : overlap.height },
  };
}

function planStrategy(request: TilingRequest): TilingPlan {
  validate(request);
  const strategy = request.strategy ?? 'variable-overlap';
  const bounds = { ...request.bounds };
  const tileSize = { ...request.tileSize };
  const overlap = { ...request.overlap };
  const base = { strategy, bounds, tileSize, overlap };
  switch (strategy) {
    case 'variable-overlap': {
      const layout = variableOverlap.layoutRegions(bounds, request.regionSize, tileSize, overlap);
      return { ...base, ...layout };
    }
    case 'variable-tile':
      return {
        ...base,
        effectiveOverlap: { ...overlap },
        regionSize: { ...request.regionSize },
        coveredBounds: { ...bounds },
        regions: variableTile.computeRegions(bounds, request.regionSize, tileSize, overlap),
      };
    case 'full-coverage': {
      const layout = fullCoverage.layoutRegions(bounds, request.regionSize, tileSize, overlap);
      return { ...base, ...layout, coveredBounds: { ...bounds } };
    }
    default:
      throw new RangeError(`unknown tiling strategy ${JSON.stringify(strategy)}`);
  }
}

/** The tiles of one region of the plan, row-major. */
export function tilesOfRegion(plan: TilingPlan, region: Window): Window[] {
  const tiles = strategyTiles(plan, region);
  return tiles.length ? tiles : [{ ...region }];
}

function strategyTiles(plan: TilingPlan, region: Window): Window[] {
  switch (plan.strategy) {
    case 'variable-overlap':
      return variableOverlap.computeTiles(region, plan.tileSize, plan.overlap);
    case 'variable-tile':
      return variableTile.computeTiles(region, plan.tileSize, plan.overlap);
    case 'full-coverage':
      return fullCoverage.computeTiles(region, plan.tileSize, plan.effectiveOverlap);
    default:
      throw new RangeError(`unknown tiling strategy ${JSON.stringify(plan.strategy)}`);
  }
}

/** Every tile of the plan, region by region. */
export function allTiles(plan: TilingPlan): Window[] {
  return plan.regions.flatMap((region) => tilesOfRegion(plan, region));
}

/** Tiles × tile area over the processed area above which the tiling is almost certainly a mistake (see below). */
export const CROWDED_TILING_FACTOR = 16;

/**
 * A warning when the tiles cover each processed pixel more than CROWDED_TILING_FACTOR times on average (an overlap
 * close to the tile size: 512/511 on a 1024² image is 263,169 tiles), else null. 16 is an overlap of 3/4 of the
 * tile; OSML's defaults (1024/50) cover a pixel about 1.1 times, Tessera's (512/128) about 1.8 times.
 */
export function crowdedTilingWarning(tiles: readonly Window[], processed: Window): string | null {
  const area = processed.width * processed.height;
  if (area <= 0 || tiles.length === 0) return null;
  const factor = tiles.reduce((sum, t) => sum + t.width * t.height, 0) / area;
  if (factor <= CROWDED_TILING_FACTOR) return null;
  return `the tiling makes ${tiles.length.toLocaleString('en-US')} tiles, covering each pixel ${Math.round(factor).toLocaleString('en-US')} times on average (more than ${CROWDED_TILING_FACTOR}): the overlap is close to the tile size; a smaller overlap gives far fewer tiles`;
}
