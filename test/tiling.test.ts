// Expected values come from the OSML reference (§3.3–3.6, pinned by OSML's own unit and integration tests) or are
// derived by hand in the comments; OSML writes regions as ((row, col), (width, height)), converted with `osml()`.
import { describe, expect, it } from 'vitest';
import {
  allTiles,
  contains,
  crops,
  crowdedTilingWarning,
  fullCoverage,
  intersect,
  planTiling,
  TILING_STRATEGIES,
  regionTupleRepr,
  tilesOfRegion,
  variableOverlap,
  variableTile,
  windowFromImageRegion,
  type ImageRegion,
  type Size,
  type TilingPlan,
  type TilingStrategyName,
  type Window,
} from '../src/tiling/index.js';

const osml = (r: ImageRegion): Window => windowFromImageRegion(r);
const size = (width: number, height = width): Size => ({ width, height });
const image = (width: number, height: number): Window => ({ x: 0, y: 0, width, height });

function plan(bounds: Window, tile: number, overlap: number, region: number, strategy?: TilingStrategyName): TilingPlan {
  return planTiling({ bounds, tileSize: size(tile), overlap: size(overlap), regionSize: size(region), strategy });
}

/** Sorted distinct values of one coordinate, to read tile strides. */
const distinct = (tiles: Window[], key: 'x' | 'y'): number[] => [...new Set(tiles.map((t) => t[key]))].sort((a, b) => a - b);

/** Counts how many tiles cover each pixel of the bounds (small images only). */
function coverageCounts(bounds: Window, tiles: Window[]): Uint16Array {
  const counts = new Uint16Array(bounds.width * bounds.height);
  for (const t of tiles) {
    for (let y = t.y; y < t.y + t.height; y++) {
      for (let x = t.x; x < t.x + t.width; x++) counts[(y - bounds.y) * bounds.width + (x - bounds.x)]! += 1;
    }
  }
  return counts;
}

/** Checks per axis that the union of tile extents covers [start, end) (tiles form a grid, so axes are independent). */
function axisCovered(tiles: Window[], axis: 'x' | 'y', start: number, end: number): boolean {
  const len = axis === 'x' ? 'width' : 'height';
  const spans = [...new Map(tiles.map((t) => [t[axis], t[len]])).entries()].sort((a, b) => a[0] - b[0]);
  let reached = start;
  for (const [s, l] of spans) {
    if (s > reached) return false;
    reached = Math.max(reached, s + l);
  }
  return reached >= end;
}

describe('window helpers', () => {
  it('converts OSML ImageRegion ((row, col), (w, h)) and prints the region id tuple', () => {
    const w = osml([
      [0, 9828],
      [3158, 10184],
    ]);
    expect(w).toEqual({ x: 9828, y: 0, width: 3158, height: 10184 });
    expect(regionTupleRepr(w)).toBe('(0, 9828)(3158, 10184)'); // reference §3.1 region_id example
  });

  it('intersects and tests containment', () => {
    expect(intersect({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 8, width: 10, height: 10 })).toEqual({
      x: 5,
      y: 8,
      width: 5,
      height: 2,
    });
    expect(intersect({ x: 0, y: 0, width: 10, height: 10 }, { x: 10, y: 0, width: 5, height: 5 })).toBeNull();
    expect(contains(image(100, 100), { x: 90, y: 0, width: 10, height: 100 })).toBe(true);
    expect(contains(image(100, 100), { x: 91, y: 0, width: 10, height: 100 })).toBe(false);
  });
});

describe('crops', () => {
  it('cuts ((5,10),(1024,1024)) into 16 chips of 300 with overlap 44, 256-px edge chips (OSML test_tiling_strategy)', () => {
    const chips = crops(
      osml([
        [5, 10],
        [1024, 1024],
      ]),
      size(300),
      size(44),
    );
    // stride 256, ceil(1024/256) = 4 per axis; last chip starts at 10 + 3*256 = 778 and is 10+1024-778 = 256 wide.
    expect(chips).toHaveLength(16);
    expect(chips[0]).toEqual(osml([[5, 10], [300, 300]]));
    expect(chips[1]).toEqual(osml([[5, 266], [300, 300]]));
    expect(chips[3]).toEqual(osml([[5, 778], [256, 300]]));
    expect(chips[12]).toEqual(osml([[773, 10], [300, 256]]));
    expect(chips[15]).toEqual(osml([[773, 778], [256, 256]]));
  });

  it('clips edge chips without overlap (OSML test_chip_generator_no_overlap)', () => {
    const chips = crops(image(5000, 2500), size(2048), size(0));
    expect(chips).toEqual(
      (
        [
          [[0, 0], [2048, 2048]],
          [[0, 2048], [2048, 2048]],
          [[0, 4096], [904, 2048]],
          [[2048, 0], [2048, 452]],
          [[2048, 2048], [2048, 452]],
          [[2048, 4096], [904, 452]],
        ] as ImageRegion[]
      ).map(osml),
    );
  });

  it('keeps only full chips when asked', () => {
    // 1000 wide, chip 512, overlap 128: x = 0, 384, 768 -> only 0 and 384 are full (768 + 512 > 1000).
    expect(crops(image(1000, 512), size(512), size(128), true).map((c) => c.x)).toEqual([0, 384]);
  });

  it('throws a RangeError naming the values when overlap is not smaller than the chip', () => {
    expect(() => crops(image(1024, 1024), size(300), { width: 301, height: 0 })).toThrow(RangeError);
    expect(() => crops(image(1024, 1024), size(300), { width: 0, height: 300 })).toThrow(
      'chip overlap 300 must be smaller than chip size 300 (height)',
    );
  });
});

describe('variable-overlap primitives', () => {
  it('expands the overlap as in the §3.5 worked example', () => {
    // x: s=3996, n=ceil(24900/3996)=7, extra=100+7*3996-25000=3072, O'=100+ceil(3072/6)=612
    expect(variableOverlap.expandOverlap(25000, 4096, 100)).toBe(612);
    // y: n=ceil(11900/3996)=3, extra=88, O'=100+44=144
    expect(variableOverlap.expandOverlap(12000, 4096, 100)).toBe(144);
    // one tile spans the axis -> overlap unchanged
    expect(variableOverlap.expandOverlap(2000, 4096, 100)).toBe(100);
  });

  it('sizes regions to whole tiles', () => {
    expect(variableOverlap.regionSize(10000, 4096, 612)).toBe(7580); // 3484*floor(9388/3484) + 612
    expect(variableOverlap.regionSize(10000, 4096, 144)).toBe(8048); // 3952*2 + 144
    expect(() => variableOverlap.regionSize(10000, 512, 512)).toThrow('tile overlap 512 must be smaller than tile size 512');
  });
});

describe('planTiling: variable-overlap (OSML default)', () => {
  it('1024x1024, tile 512 / overlap 128 -> 3x3 tiles at stride 256 (meta.ntf)', () => {
    const p = plan(image(1024, 1024), 512, 128, 10240);
    // n = ceil(896/384) = 3, extra = 128 + 1152 - 1024 = 256, O' = 128 + 128 = 256
    expect(p.effectiveOverlap).toEqual(size(256));
    expect(p.regions).toHaveLength(1);
    const tiles = allTiles(p);
    expect(tiles).toHaveLength(9);
    expect(distinct(tiles, 'x')).toEqual([0, 256, 512]);
    expect(distinct(tiles, 'y')).toEqual([0, 256, 512]);
    expect(tiles.every((t) => t.width === 512 && t.height === 512)).toBe(true);
  });

  it('3376x2576 -> 1 region, 9x7 = 63 tiles, strides 358 x 344, O = (154, 168) (small.tif)', () => {
    const p = plan(image(3376, 2576), 512, 128, 10240);
    expect(p.effectiveOverlap).toEqual({ width: 154, height: 168 });
    expect(p.regions).toHaveLength(1);
    const tiles = tilesOfRegion(p, p.regions[0]!);
    expect(tiles).toHaveLength(63);
    const xs = distinct(tiles, 'x');
    const ys = distinct(tiles, 'y');
    expect(xs).toHaveLength(9);
    expect(ys).toHaveLength(7);
    expect(xs[1]! - xs[0]!).toBe(358);
    expect(ys[1]! - ys[0]!).toBe(344);
    // 8*358 + 512 = 3376 and 6*344 + 512 = 2576: this image is covered exactly
    expect(p.coveredBounds).toEqual(image(3376, 2576));
  });

  it('12987x12438, region 10240 -> O=(134,140), bounds 12986x12416, R=(9962,10184), 4 regions, 1122 tiles (large.tif)', () => {
    const p = plan(image(12987, 12438), 512, 128, 10240);
    expect(p.effectiveOverlap).toEqual({ width: 134, height: 140 });
    expect(p.coveredBounds).toEqual(image(12986, 12416));
    expect(p.regionSize).toEqual({ width: 9962, height: 10184 });
    expect(p.regions).toHaveLength(4);
    expect(regionTupleRepr(p.regions[1]!)).toBe('(0, 9828)(3158, 10184)'); // reference §3.1 region id
    const tiles = allTiles(p);
    expect(tiles).toHaveLength(1122);
    // no tile is processed twice
    expect(new Set(tiles.map((t) => `${t.x},${t.y}`)).size).toBe(1122);
  });

  it('6679x3859 -> 180 tiles (sicd-interferometric-hh.nitf)', () => {
    expect(allTiles(plan(image(6679, 3859), 512, 128, 10240))).toHaveLength(180);
  });

  it('a 512x512 image is one tile', () => {
    expect(allTiles(plan(image(512, 512), 512, 128, 10240))).toEqual([image(512, 512)]);
  });

  it('25000x12000, region 10000, tile 4096, overlap 100 -> the 8 regions and 21 tiles of §3.5', () => {
    const p = plan(image(25000, 12000), 4096, 100, 10000);
    expect(p.effectiveOverlap).toEqual({ width: 612, height: 144 });
    expect(p.regionSize).toEqual({ width: 7580, height: 8048 });
    expect(p.coveredBounds).toEqual(image(25000, 12000));
    expect(p.regions).toEqual(
      (
        [
          [[0, 0], [7580, 8048]],
          [[0, 6968], [7580, 8048]],
          [[0, 13936], [7580, 8048]],
          [[0, 20904], [4096, 8048]],
          [[7904, 0], [7580, 4096]],
          [[7904, 6968], [7580, 4096]],
          [[7904, 13936], [7580, 4096]],
          [[7904, 20904], [4096, 4096]],
        ] as ImageRegion[]
      ).map(osml),
    );
    const byRegion = p.regions.map((r) => tilesOfRegion(p, r));
    expect(byRegion[0]).toEqual(
      (
        [
          [[0, 0], [4096, 4096]],
          [[0, 3484], [4096, 4096]],
          [[3952, 0], [4096, 4096]],
          [[3952, 3484], [4096, 4096]],
        ] as ImageRegion[]
      ).map(osml),
    );
    // OSML test_compute_tiles: right-edge, bottom-edge and corner regions
    expect(byRegion[3]).toEqual(([[[0, 20904], [4096, 4096]], [[3952, 20904], [4096, 4096]]] as ImageRegion[]).map(osml));
    expect(byRegion[6]).toEqual(([[[7904, 13936], [4096, 4096]], [[7904, 17420], [4096, 4096]]] as ImageRegion[]).map(osml));
    expect(byRegion[7]).toEqual([osml([[7904, 20904], [4096, 4096]])]);
    expect(byRegion.flat()).toHaveLength(21); // 7 columns x 3 rows
  });

  it('ROI ((200,8000),(17000,11800)) -> O=(870,244), R=(7322,7948), 6 regions', () => {
    const p = plan(osml([[200, 8000], [17000, 11800]]), 4096, 100, 10000);
    expect(p.effectiveOverlap).toEqual({ width: 870, height: 244 });
    expect(p.regionSize).toEqual({ width: 7322, height: 7948 });
    expect(p.regions).toEqual(
      (
        [
          [[200, 8000], [7322, 7948]],
          [[200, 14452], [7322, 7948]],
          [[200, 20904], [4096, 7948]],
          [[7904, 8000], [7322, 4096]],
          [[7904, 14452], [7322, 4096]],
          [[7904, 20904], [4096, 4096]],
        ] as ImageRegion[]
      ).map(osml),
    );
  });

  it('12000x2000 -> 2 regions whose tiles are 4096x2000', () => {
    const p = plan(image(12000, 2000), 4096, 100, 10000);
    expect(p.regions).toEqual(([[[0, 0], [8048, 2000]], [[0, 7904], [4096, 2000]]] as ImageRegion[]).map(osml));
    // region 1: O'' = (144, 100); partial tiles at x = 0, 3952 (x = 7904 is only 144 wide, not > 144, so dropped)
    expect(tilesOfRegion(p, p.regions[0]!)).toEqual([
      { x: 0, y: 0, width: 4096, height: 2000 },
      { x: 3952, y: 0, width: 4096, height: 2000 },
    ]);
    expect(tilesOfRegion(p, p.regions[1]!)).toEqual([{ x: 7904, y: 0, width: 4096, height: 2000 }]);
  });

  it('a region smaller than a tile ((10,50),(1024,2048)) is one tile equal to the region', () => {
    const region = osml([[10, 50], [1024, 2048]]);
    expect(variableOverlap.computeTiles(region, size(4096), size(100))).toEqual([region]);
  });

  it('an image smaller than one tile is one partial tile equal to the image', () => {
    const p = plan(image(300, 200), 512, 128, 10240);
    expect(p.regions).toEqual([image(300, 200)]);
    expect(allTiles(p)).toEqual([image(300, 200)]);
  });

  it('leaves the right/bottom edge of large.tif unprocessed (weak point 12, kept for compatibility)', () => {
    const tiles = allTiles(plan(image(12987, 12438), 512, 128, 10240));
    expect(Math.max(...tiles.map((t) => t.x + t.width))).toBe(12986); // 1 column lost
    expect(Math.max(...tiles.map((t) => t.y + t.height))).toBe(12416); // 22 rows lost
  });
});

describe('planTiling: variable-tile', () => {
  it('uses the raw overlap and region size, with partial edge tiles', () => {
    const p = plan(image(1000, 700), 512, 128, 1024, 'variable-tile');
    expect(p.effectiveOverlap).toEqual(size(128));
    expect(p.regionSize).toEqual(size(1024));
    expect(p.regions).toEqual([image(1000, 700)]);
    // stride 384: x = 0 (512), 384 (512), 768 (232 > 128); y = 0 (512), 384 (316)
    expect(tilesOfRegion(p, p.regions[0]!)).toEqual(crops(image(1000, 700), size(512), size(128)));
    expect(tilesOfRegion(p, p.regions[0]!).map((t) => [t.x, t.y, t.width, t.height])).toEqual([
      [0, 0, 512, 512],
      [384, 0, 512, 512],
      [768, 0, 232, 512],
      [0, 384, 512, 316],
      [384, 384, 512, 316],
      [768, 384, 232, 316],
    ]);
    expect(variableTile.computeRegions(image(3000, 1000), size(2048), size(512), size(128))).toHaveLength(2);
  });
});

describe('planTiling: full-coverage', () => {
  function checkFullCoverage(p: TilingPlan): Window[] {
    const tiles: Window[] = [];
    const owner = new Map<string, number>();
    p.regions.forEach((region, i) => {
      for (const t of tilesOfRegion(p, region)) {
        const key = `${t.x},${t.y},${t.width},${t.height}`;
        expect(owner.has(key), `tile ${key} in regions ${owner.get(key)} and ${i}`).toBe(false);
        owner.set(key, i);
        expect(contains(region, t)).toBe(true);
        expect(contains(p.bounds, t)).toBe(true);
        tiles.push(t);
      }
    });
    return tiles;
  }

  it('covers every pixel of 12987x12438 with full tiles, each in exactly one region', () => {
    const p = plan(image(12987, 12438), 512, 128, 10240, 'full-coverage');
    expect(p.effectiveOverlap).toEqual({ width: 134, height: 140 }); // same widened grid as variable-overlap
    expect(p.coveredBounds).toEqual(p.bounds);
    const tiles = checkFullCoverage(p);
    expect(tiles.every((t) => t.width === 512 && t.height === 512)).toBe(true);
    // 34 grid columns (last ends at 12986) + one anchored at 12987-512 = 12475;
    // 33 grid rows (last ends at 12416) + one anchored at 12438-512 = 11926.
    expect(distinct(tiles, 'x')).toHaveLength(35);
    expect(distinct(tiles, 'y')).toHaveLength(34);
    expect(distinct(tiles, 'x').at(-1)).toBe(12475);
    expect(distinct(tiles, 'y').at(-1)).toBe(11926);
    expect(tiles).toHaveLength(35 * 34);
    expect(axisCovered(tiles, 'x', 0, 12987)).toBe(true);
    expect(axisCovered(tiles, 'y', 0, 12438)).toBe(true);
    // Regions hold k = 26 columns / 27 rows, as R' = (9962, 10184) does: 26 + (8 + anchored), 27 + (6 + anchored).
    expect(p.regions).toEqual([
      { x: 0, y: 0, width: 9962, height: 10184 },
      { x: 9828, y: 0, width: 12987 - 9828, height: 10184 },
      { x: 0, y: 10044, width: 9962, height: 12438 - 10044 },
      { x: 9828, y: 10044, width: 12987 - 9828, height: 12438 - 10044 },
    ]);
  });

  it('covers every pixel of 1000x700 and of 6679x3859 (pixel by pixel)', () => {
    for (const [w, h, cols, rows] of [
      // 1000: O'=268, stride 244, 0/244/488 ends at 1000 exactly; 700: O'=324, stride 188, 0/188 ends at 700
      [1000, 700, 3, 2],
      // 6679: O'=150, stride 362, 18 grid tiles end at 6666 (+1 anchored); 3859: O'=141, stride 371, 10 end at 3851 (+1)
      [6679, 3859, 19, 11],
    ] as const) {
      const p = plan(image(w, h), 512, 128, 10240, 'full-coverage');
      const tiles = checkFullCoverage(p);
      expect(tiles).toHaveLength(cols * rows);
      expect(tiles.every((t) => t.width === 512 && t.height === 512)).toBe(true);
      expect(coverageCounts(p.bounds, tiles).includes(0)).toBe(false);
    }
  });

  it('places an anchored tile in its own region when the last region is already full', () => {
    // ROI 1300 wide, tile 512/128: n=ceil(1172/384)=4, extra=128+1536-1300=364, O'=128+ceil(364/3)=250,
    // stride 262; grid 0, 262, 524, 786 ends at 1298 -> a 2-px gap, so one tile is anchored at 1300-512=788.
    // Region 512 wide holds k=1 tile, so the anchored tile at 1300-512=788 is its own region.
    const p = plan({ x: 7, y: 3, width: 1300, height: 512 }, 512, 128, 512, 'full-coverage');
    expect(p.regions.map((r) => [r.x - 7, r.width])).toEqual([
      [0, 512],
      [262, 512],
      [524, 512],
      [786, 512],
      [788, 512],
    ]);
    const tiles = checkFullCoverage(p);
    expect(tiles).toHaveLength(5);
    expect(coverageCounts(p.bounds, tiles).includes(0)).toBe(false);
  });

  it('an image smaller than a tile gives one partial tile equal to the image', () => {
    const p = plan(image(300, 700), 512, 128, 10240, 'full-coverage');
    const tiles = checkFullCoverage(p);
    // x: one partial column of 300; y: 700 -> O'=324, tiles at 0 and 188
    expect(tiles).toEqual([
      { x: 0, y: 0, width: 300, height: 512 },
      { x: 0, y: 188, width: 300, height: 512 },
    ]);
    expect(allTiles(plan(image(300, 200), 512, 128, 10240, 'full-coverage'))).toEqual([image(300, 200)]);
  });

  it('axisTiles covers an axis exactly', () => {
    expect(fullCoverage.axisTiles(0, 1300, 512, 250)).toEqual([
      { start: 0, length: 512 },
      { start: 262, length: 512 },
      { start: 524, length: 512 },
      { start: 786, length: 512 },
      { start: 788, length: 512 },
    ]);
  });
});

describe('planTiling validation', () => {
  const ok = { bounds: image(1000, 1000), tileSize: size(512), overlap: size(128), regionSize: size(1024) };
  it('rejects overlap >= tile size', () => {
    expect(() => planTiling({ ...ok, overlap: { width: 128, height: 512 } })).toThrow(
      'tile overlap 512 must be smaller than tile size 512 (height)',
    );
  });
  it('rejects a region smaller than a tile (OSML crashes instead)', () => {
    expect(() => planTiling({ ...ok, regionSize: { width: 256, height: 1024 } })).toThrow(
      'region size 256 must not be smaller than tile size 512 (width)',
    );
  });
  it('rejects non-positive or fractional sizes', () => {
    expect(() => planTiling({ ...ok, bounds: image(0, 10) })).toThrow('bounds width 0 must be a positive integer');
    expect(() => planTiling({ ...ok, tileSize: { width: 512.5, height: 512 } })).toThrow(RangeError);
    expect(() => planTiling({ ...ok, overlap: { width: -1, height: 0 } })).toThrow(
      'tile overlap width -1 must be a non-negative integer',
    );
    expect(() => planTiling({ ...ok, strategy: 'bogus' as TilingStrategyName })).toThrow('unknown tiling strategy "bogus"');
  });
});

describe('images smaller than the overlap', () => {
  it.each([[64, 64], [30, 30], [1, 1], [100, 300]])('%ix%i at tile 512 / overlap 128 is one tile equal to the image', (width, height) => {
    for (const strategy of TILING_STRATEGIES) {
      const plan = planTiling({ bounds: { x: 0, y: 0, width, height }, tileSize: { width: 512, height: 512 }, overlap: { width: 128, height: 128 }, regionSize: { width: 10240, height: 10240 }, strategy });
      expect(allTiles(plan)).toEqual([{ x: 0, y: 0, width, height }]);
    }
  });
});

describe('strips narrower than the overlap', () => {
  it('a 20000x100 strip at tile 512 / overlap 128 is cut along its length into 512-wide tiles', () => {
    for (const strategy of TILING_STRATEGIES) {
      const plan = planTiling({ bounds: { x: 0, y: 0, width: 20000, height: 100 }, tileSize: { width: 512, height: 512 }, overlap: { width: 128, height: 128 }, regionSize: { width: 10240, height: 10240 }, strategy });
      const tiles = allTiles(plan);
      // 20000 wide: variable-overlap n = ceil((20000-128)/384) = 52 full tiles of 512 (widened overlap); every tile
      // is 100 high and at most 512 wide
      expect(tiles.length).toBeGreaterThanOrEqual(52);
      for (const t of tiles) {
        expect(t.height).toBe(100);
        expect(t.width).toBeLessThanOrEqual(512);
      }
    }
  });
});

describe('crowded tilings are warned about at plan time', () => {
  it('512/128 and OSML 1024/50 are fine; 512/511 on 1024² is 513² = 263,169 tiles, each pixel covered 65,792 times', () => {
    // 512/128 on 1024²: 3 x 3 tiles of 512² = 9 × 262144 / 1048576 = 2.25 times
    const normal = plan(image(1024, 1024), 512, 128, 10240);
    expect(crowdedTilingWarning(allTiles(normal), normal.coveredBounds)).toBeNull();
    const osmlDefaults = plan(image(1024, 1024), 1024, 50, 10240);
    expect(crowdedTilingWarning(allTiles(osmlDefaults), osmlDefaults.coveredBounds)).toBeNull();
    // stride 1: (1024 - 512) / 1 + 1 = 513 tiles per axis; 263169 × 512² / 1024² = 65792.25
    const crowded = plan(image(1024, 1024), 512, 511, 10240);
    const tiles = allTiles(crowded);
    expect(tiles).toHaveLength(263_169);
    expect(crowdedTilingWarning(tiles, crowded.coveredBounds)).toBe(
      'the tiling makes 263,169 tiles, covering each pixel 65,792 times on average (more than 16): the overlap is close to the tile size; a smaller overlap gives far fewer tiles',
    );
  });

  it('the bound is more than 16 times: exactly 16 is not warned about', () => {
    const whole = image(100, 100);
    expect(crowdedTilingWarning(new Array(16).fill(whole), whole)).toBeNull();
    expect(crowdedTilingWarning(new Array(17).fill(whole), whole)).toMatch(/^the tiling makes 17 tiles, covering each pixel 17 times on average/);
  });
});
