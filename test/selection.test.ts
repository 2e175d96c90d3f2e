// Expected values come from the OSML reference (§3.7, §5.2 and the OSML unit tests it cites) or are derived by hand
// in the comments next to them.
import { describe, expect, it } from 'vitest';
import {
  boxIou,
  DEFAULT_NMS,
  DEFAULT_SOFT_NMS,
  distill,
  isSingleCell,
  keyOverlapGroups,
  nms,
  overlapKey,
  packDetections,
  softNms,
  tileOverlapCandidates,
  type Detection,
  type Distillation,
} from '../src/selection/index.js';
import { argsortDescending } from '../src/selection/argsort.js';
import { spatialClusters } from '../src/selection/clusters.js';
import { distillOffThread } from '../src/selection/off-thread.js';
import { planTiling, windowFromImageRegion, type Size, type TilingStrategyName, type Window } from '../src/tiling/index.js';

type Box = [number, number, number, number];
const det = (bounds: Box, score = 0.9, label = 'boat'): Detection => ({ bounds, label, score });
const size = (width: number, height = width): Size => ({ width, height });
const sorted = (a: ArrayLike<number>): number[] => [...Array.from(a)].sort((x, y) => x - y);

function plan(bounds: Window, tile: number, overlap: number, region: number, strategy?: TilingStrategyName) {
  return planTiling({ bounds, tileSize: size(tile), overlap: size(overlap), regionSize: size(region), strategy });
}

// OSML test_feature_selection boxes: a lies inside b, so IoU(a, b) = 50*50 / (56*56) = 2500/3136 = 0.797.
const A: Box = [50, 50, 100, 100];
const B: Box = [45, 45, 101, 101];
const C: Box = [250, 255, 300, 275]; // far from both

describe('IoU', () => {
  it('matches hand-computed values', () => {
    expect(boxIou(A, B)).toBeCloseTo(2500 / 3136, 12);
    // [40,40,90,90] vs [50,50,100,100]: intersection 40*40 = 1600, union 2500 + 2500 - 1600 = 3400
    expect(boxIou([40, 40, 90, 90], [50, 50, 100, 100])).toBeCloseTo(1600 / 3400, 12);
    expect(boxIou(A, C)).toBe(0);
    expect(boxIou([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0); // touching only
  });
});

describe('argsortDescending', () => {
  it('orders by descending value, stable for ties, on both the comparator and the radix path', () => {
    const base = [0.5, -1, 0, -0, 0.5, 2, -3.5, 1e-300, -1e-300, Infinity, -Infinity, 0.25];
    for (const copies of [1, 100]) {
      const keys = Array.from({ length: base.length * copies }, (_, i) => base[i % base.length]!);
      // reference: descending by value, then ascending position (-0 and 0 are equal)
      const expected = keys.map((_, i) => i).sort((a, b) => (keys[b]! > keys[a]! ? 1 : keys[b]! < keys[a]! ? -1 : a - b));
      expect(Array.from(argsortDescending(keys))).toEqual(expected);
    }
  });
});

describe('spatialClusters', () => {
  it('splits boxes into connected groups of intersecting or touching rectangles, keeping member order', () => {
    const boxes = Float64Array.from([
      ...[0, 0, 10, 10], // 0 ─┐ overlaps 2
      ...[100, 100, 110, 110], // 1 ─┐ touches 3 (shared edge x = 110)
      ...[5, 5, 15, 15], // 2 ─┘ overlaps 4 too -> {0, 2, 4}
      ...[110, 100, 120, 110], // 3 ─┘ -> {1, 3}
      ...[14, 14, 30, 30], // 4
      ...[500, 500, 501, 501], // 5 alone
    ]);
    const members = Int32Array.of(5, 4, 3, 2, 1, 0);
    const { offsets, members: clustered } = spatialClusters(boxes, members);
    const clusters = Array.from({ length: offsets.length - 1 }, (_, c) =>
      Array.from(clustered.subarray(offsets[c]!, offsets[c + 1]!)),
    );
    expect(clusters).toEqual([[5], [4, 2, 0], [3, 1]]);
  });
});

describe('nms', () => {
  it('drops a box overlapping a better one above the default threshold 0.75 (OSML nms_overlaps)', () => {
    // a (0.85) / b (0.93) have IoU 0.797 > 0.75: b survives; c is alone.
    const kept = nms([det(A, 0.85), det(B, 0.93), det(C, 0.8)]);
    expect(Array.from(kept)).toEqual([1, 2]); // score order: b 0.93, c 0.80
  });

  it('honours a custom threshold: IoU 1600/3400 = 0.47 suppresses at 0.4, not at 0.7', () => {
    const pair = [det([40, 40, 90, 90], 0.9), det([50, 50, 100, 100], 0.8)];
    expect(Array.from(nms(pair, 0.4))).toEqual([0]);
    expect(Array.from(nms(pair, 0.7))).toEqual([0, 1]);
  });

  it('keeps a box whose IoU equals the threshold exactly', () => {
    // [0,0,10,10] vs [0,0,10,5]: intersection 50, union 100 + 50 - 50 = 100, IoU = 0.5 exactly
    const pair = [det([0, 0, 10, 10], 0.9), det([0, 0, 10, 5], 0.8)];
    expect(Array.from(nms(pair, 0.5))).toEqual([0, 1]);
    expect(Array.from(nms(pair, 0.49))).toEqual([0]);
  });

  it('runs per class: overlapping boxes of different labels both survive', () => {
    const kept = nms([det(A, 0.45, 'ground_motor_passenger_vehicle'), det(B, 0.57, 'boat'), det(C, 0.8, 'ground_motor_passenger_vehicle')]);
    expect(sorted(kept)).toEqual([0, 1, 2]);
  });

  it('handles point features via the 0.1 px padding', () => {
    expect(Array.from(nms([det([409.6, 409.6, 409.6, 409.6], 0.85)]))).toEqual([0]);
    // two identical points -> identical 0.1x0.1 boxes, IoU 1 -> one survives
    expect(Array.from(nms([det([5, 5, 5, 5], 0.5), det([5, 5, 5, 5], 0.7)]))).toEqual([1]);
    // points 0.05 px apart: boxes [5,5,5.1,5.1] and [5.05,5,5.15,5.1] -> IoU 0.005/0.015 = 1/3 -> both survive
    expect(sorted(nms([det([5, 5, 5, 5]), det([5.05, 5, 5.05, 5])]))).toEqual([0, 1]);
  });

  it('only lets detections of the same scope group suppress each other', () => {
    const twins = [det(A, 0.9), det(A, 0.8)];
    expect(Array.from(nms(twins, 0.75, { groups: [0, 0] }))).toEqual([0]);
    expect(Array.from(nms(twins, 0.75, { groups: [0, 1] }))).toEqual([0, 1]);
    expect(Array.from(nms(twins, 0.75, { items: [1] }))).toEqual([1]);
  });

  it('uses the spatial index on large inputs with the same result as the definition', () => {
    // 100 clusters of 3 boxes (offset 0, 1, 2 px, 20 px wide): within a cluster IoU(0,1) = 19*20/(2*400-380) = 0.905
    // and IoU(0,2) = 18*20/(800-360) = 0.818, both > 0.75, so only the best of each cluster survives.
    const many: Detection[] = [];
    for (let c = 0; c < 100; c++) {
      for (let k = 0; k < 3; k++) many.push(det([c * 100 + k, 0, c * 100 + k + 20, 20], 0.5 + k * 0.1));
    }
    const kept = nms(many);
    expect(sorted(kept)).toEqual(Array.from({ length: 100 }, (_, c) => c * 3 + 2));
  });

  it('accepts packed detections and rejects thresholds outside [0, 1]', () => {
    const packed = packDetections([det(A, 0.85), det(B, 0.93)]);
    expect(Array.from(nms(packed))).toEqual([1]);
    expect(() => nms(packed, 1.5)).toThrow('IoU threshold 1.5 must be between 0 and 1');
  });
});

describe('softNms', () => {
  it('decays overlapping boxes: a 0.85, b 0.93, c 0.80 -> order b, c, a (OSML soft_nms_overlaps)', () => {
    // b is taken first (0.93). a decays by exp(-IoU²/sigma) = exp(-(2500/3136)² / 0.1) = exp(-0.635518 / 0.1)
    //   = exp(-6.355181) = 0.0017377, so a -> 0.85 * 0.0017377 = 0.0014771; c has IoU 0 with b and stays 0.80.
    // c (0.80) is taken next, then a (0.0014771 > 0.0001, kept).
    const result = softNms([det(A, 0.85), det(B, 0.93), det(C, 0.8)]);
    expect(Array.from(result.keep)).toEqual([1, 2, 0]);
    expect(result.scores[0]).toBe(0.93);
    expect(result.scores[1]).toBe(0.8);
    expect(result.scores[2]).toBeCloseTo(0.85 * Math.exp(-((2500 / 3136) ** 2) / 0.1), 12);
    expect(result.scores[2]).toBeCloseTo(0.0014771, 6);
  });

  it('drops boxes decayed below skipBoxThreshold', () => {
    // identical boxes: IoU 1, decay exp(-1/0.1) = 4.54e-5; 0.9 * 4.54e-5 = 4.09e-5 <= 0.0001 -> dropped
    const result = softNms([det(A, 0.9), det(A, 0.95)]);
    expect(Array.from(result.keep)).toEqual([1]);
    // with sigma 1: decay exp(-1) = 0.3679, 0.9 * 0.3679 = 0.3311 -> kept
    const wide = softNms([det(A, 0.9), det(A, 0.95)], { sigma: 1 });
    expect(Array.from(wide.keep)).toEqual([1, 0]);
    expect(wide.scores[1]).toBeCloseTo(0.9 * Math.exp(-1), 12);
  });

  it('re-orders by decayed score and decays per class only', () => {
    // x (0.9) and y (0.8) identical; z (0.5) elsewhere. After x, y = 0.8*exp(-10) = 3.6e-5 < z, so order x, z, (y dropped).
    const result = softNms([det(A, 0.9), det(A, 0.8), det(C, 0.5)]);
    expect(Array.from(result.keep)).toEqual([0, 2]);
    const perClass = softNms([det(A, 0.9, 'boat'), det(A, 0.8, 'car')]);
    expect(Array.from(perClass.keep)).toEqual([0, 1]);
    expect(Array.from(perClass.scores)).toEqual([0.9, 0.8]);
  });

  it('always drops class-less features (score -1) that overlap (reference §5.2)', () => {
    expect(Array.from(softNms([det(A, -1, ''), det(C, -1, '')]).keep)).toEqual([]);
  });
});

describe('spatially indexed selection agrees with the literal OSML algorithms', () => {
  // Deterministic pseudo-random boxes, clustered so that many overlap; 3 labels; distinct scores (no ties).
  function randomDetections(n: number, seed: number, cells = 20): Detection[] {
    let state = seed;
    const rand = (): number => {
      // mulberry32
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return Array.from({ length: n }, () => {
      const x = Math.floor(rand() * cells) * 25 + rand() * 10;
      const y = Math.floor(rand() * cells) * 25 + rand() * 10;
      const w = 5 + rand() * 30;
      const h = rand() < 0.05 ? 0 : 5 + rand() * 30; // some zero-height boxes exercise the padding
      return det([x, y, x + w, y + h], rand(), ['a', 'b', 'c'][Math.floor(rand() * 3)]!);
    });
  }
  const pad = (b: Box): Box => [b[0], b[1], b[2] === b[0] ? b[2] + 0.1 : b[2], b[3] === b[1] ? b[3] + 0.1 : b[3]];
  const iou = (p: Box, q: Box): number => {
    const w = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0]));
    const h = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
    const inter = w * h;
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
  };

  // ensemble_boxes nms_fast per label: sort by score, keep the first, drop the rest with IoU > threshold, repeat.
  function literalNms(dets: Detection[], threshold: number): number[] {
    const keep: number[] = [];
    for (const label of new Set(dets.map((d) => d.label))) {
      const padded = dets.map((d) => pad(d.bounds));
      let order = dets.map((_, i) => i).filter((i) => dets[i]!.label === label);
      order.sort((i, j) => dets[j]!.score - dets[i]!.score);
      while (order.length > 0) {
        const i = order[0]!;
        keep.push(i);
        order = order.slice(1).filter((j) => iou(padded[i]!, padded[j]!) <= threshold);
      }
    }
    return keep.sort((a, b) => a - b);
  }

  // ensemble_boxes cpu_soft_nms_float (gaussian) per label: swap the max into position i, decay all later ones.
  function literalSoftNms(dets: Detection[], sigma: number, thresh: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const label of new Set(dets.map((d) => d.label))) {
      const idx = dets.map((_, i) => i).filter((i) => dets[i]!.label === label);
      const sc = idx.map((i) => dets[i]!.score);
      for (let i = 0; i < idx.length; i++) {
        let max = i;
        for (let j = i + 1; j < idx.length; j++) if (sc[j]! > sc[max]!) max = j;
        [idx[i], idx[max]] = [idx[max]!, idx[i]!];
        [sc[i], sc[max]] = [sc[max]!, sc[i]!];
        for (let j = i + 1; j < idx.length; j++) {
          const o = iou(pad(dets[idx[i]!]!.bounds), pad(dets[idx[j]!]!.bounds));
          sc[j] = sc[j]! * Math.exp(-(o * o) / sigma);
        }
      }
      idx.forEach((i, k) => {
        if (sc[k]! > thresh) out.set(i, sc[k]!);
      });
    }
    return out;
  }

  it('NMS keeps the same detections', () => {
    // 2500 boxes spread over 100x100 cells exceed CLUSTER_MIN_BOXES, so that run is split into many clusters of
    // intersecting boxes first.
    for (const [seed, n, cells] of [[1, 800, 20], [2, 800, 20], [3, 2500, 100]] as const) {
      const dets = randomDetections(n, seed, cells);
      expect(new Set(dets.map((d) => d.score)).size).toBe(n); // tie order is implementation-defined in OSML
      for (const threshold of [0.1, 0.5, 0.75]) expect(sorted(nms(dets, threshold))).toEqual(literalNms(dets, threshold));
    }
  });

  it('per-group runs (small buckets, compared pair by pair) match the literal algorithms run per group', () => {
    const dets = randomDetections(800, 6);
    const groups = dets.map((_, i) => i % 40); // ~20 detections per group
    // The literal versions run per label; making the group part of the label runs them per (group, label).
    const relabelled = dets.map((d, i) => ({ ...d, label: `${d.label}/${groups[i]}` }));
    expect(sorted(nms(dets, 0.3, { groups }))).toEqual(literalNms(relabelled, 0.3));
    const expected = literalSoftNms(relabelled, 0.5, 0.0001);
    const result = softNms(dets, { sigma: 0.5 }, { groups });
    expect(sorted(result.keep)).toEqual([...expected.keys()].sort((a, b) => a - b));
    result.keep.forEach((i, k) => expect(result.scores[k]).toBeCloseTo(expected.get(i)!, 12));
  });

  it('Soft-NMS keeps the same detections with the same decayed scores', () => {
    for (const [seed, n, cells] of [[4, 800, 20], [5, 2500, 100], [6, 2500, 20]] as const) {
      const dets = randomDetections(n, seed, cells);
      expect(new Set(dets.map((d) => d.score)).size).toBe(n);
      for (const sigma of [0.1, 0.5]) {
        const expected = literalSoftNms(dets, sigma, 0.0001);
        const result = softNms(dets, { sigma });
        expect(sorted(result.keep)).toEqual([...expected.keys()].sort((a, b) => a - b));
        result.keep.forEach((i, k) => expect(result.scores[k]).toBeCloseTo(expected.get(i)!, 12));
      }
    }
  });
});

describe('overlap keys (reference §3.7, 25000x12000, tile 4096, overlap 100, region 10000)', () => {
  // O' = (612, 144), R' = (7580, 8048): region stride (6968, 7904), tile stride (3484, 3952).
  const R = size(7580, 8048);
  const O = size(612, 144);
  const T = size(4096);

  it('[20904,7904,20924,7924] -> region key (2,3,0,1)', () => {
    // x: trunc(20904/6968) = 3 but 20904 mod 6968 = 0 < 612 -> 2; trunc(20924/6968) = 3.
    // y: trunc(7904/7904) = 1 but 7904 mod 7904 = 0 < 144 -> 0; trunc(7924/7904) = 1.
    expect(overlapKey([20904, 7904, 20924, 7924], R, O)).toEqual([2, 3, 0, 1]);
  });

  it('[4000,4000,4010,4010] -> region (0,0,0,0), tile key (0,1,0,1)', () => {
    const region = overlapKey([4000, 4000, 4010, 4010], R, O);
    expect(region).toEqual([0, 0, 0, 0]);
    expect(isSingleCell(region)).toBe(true);
    // tile x: trunc(4000/3484) = 1, 4000 mod 3484 = 516 < 612 -> 0; y: trunc(4000/3952) = 1, 48 < 144 -> 0
    expect(overlapKey([4000, 4000, 4010, 4010], T, O)).toEqual([0, 1, 0, 1]);
  });

  it('[10,10,10,10] touches no overlap', () => {
    expect(overlapKey([10, 10, 10, 10], R, O)).toEqual([0, 0, 0, 0]);
    expect(overlapKey([10, 10, 10, 10], T, O)).toEqual([0, 0, 0, 0]);
  });

  it('truncates toward zero for coordinates left of the origin, as Python int() does', () => {
    // x1 = -5: int(-5/6968) = 0 (floor would give -1).
    expect(overlapKey([-5, 10, 5, 20], R, O)).toEqual([0, 0, 0, 0]);
  });

  it('groups the 10 features of OSML test_deconflict_features into 4 overlap groups, 6 kept', () => {
    const p = plan({ x: 0, y: 0, width: 25000, height: 12000 }, 4096, 100, 10000);
    const boxes: Box[] = [
      // 0,1: region overlap, key (2,3,0,1) for both ([20905,...]: 20905 mod 6968 = 1 < 612 -> 2; 7905 mod 7904 = 1 -> 0).
      // IoU = 19*19 / (400 + 400 - 361) = 361/439 = 0.82 > 0.75 -> one survives.
      [20904, 7904, 20924, 7924],
      [20905, 7905, 20925, 7925],
      // 2,3: region (2,2,1,1) (17500 mod 6968 = 3564, 10000 mod 7904 = 2096: no step back); relative to the region
      // corner (13936, 7904) the box is at x 3564: trunc(3564/3484) = 1, 80 < 612 -> 0 -> tile key (0,1,0,0).
      [17500, 10000, 17510, 10010],
      [17500, 10000, 17510, 10010],
      // 4,5: region (0,0,0,0), tile key (0,1,0,1) (above).
      [4000, 4000, 4010, 4010],
      [4000, 4000, 4010, 4010],
      // 6,7: region (1,1,0,0) (10000 mod 6968 = 3032); relative x 3032 -> tile x (0,0); y 4000 -> (0,1): key (0,0,0,1).
      [10000, 4000, 10010, 4010],
      [10000, 4000, 10010, 4010],
      // 8,9: duplicates in no overlap: kept untouched.
      [10, 10, 10, 10],
      [10, 10, 10, 10],
    ];
    const packed = packDetections(boxes.map((b) => det(b)));
    const { groups, groupCount } = keyOverlapGroups(packed.boxes, p);
    expect(groupCount).toBe(4); // OSML: 4 selector calls
    const g = Array.from(groups);
    expect(g[8]).toBe(-1);
    expect(g[9]).toBe(-1);
    for (const [i, j] of [[0, 1], [2, 3], [4, 5], [6, 7]] as const) expect(g[i]).toBe(g[j]);
    expect(new Set(g.slice(0, 8)).size).toBe(4);
    // With NMS and equal scores the first of each duplicate pair survives (ties go to the lower index).
    expect(Array.from(distill(packed, p, DEFAULT_NMS).keep)).toEqual([0, 2, 4, 6, 8, 9]);
  });

  it('measures keys from the ROI origin (fix for weak point 9)', () => {
    // ROI ((200,8000),(17000,11800)): O' = (870,244), R' = (7322,7948), region stride (6452,7704); region columns
    // start at x = 8000 and 14452, so [14452, 14462] lies in their overlap [14452, 15322).
    const p = plan(windowFromImageRegion([[200, 8000], [17000, 11800]]), 4096, 100, 10000);
    const box: Box = [14452, 1000, 14462, 1010];
    // From the ROI origin: x 6452..6462 -> trunc(6452/6452) = 1, 0 < 870 -> 0; max 1 -> multi-region key.
    expect(overlapKey(box, p.regionSize, p.effectiveOverlap, { x: 8000, y: 200 })).toEqual([0, 1, 0, 0]);
    // OSML measures from (0,0): 14452 -> 2 (14452 mod 6452 = 1548 >= 870), max 2 -> single region; then relative to
    // the region corner 12904 the box is at 1548 -> tile x trunc(1548/3226) = 0: never compared, the duplicate stays.
    expect(overlapKey(box, p.regionSize, p.effectiveOverlap)).toEqual([2, 2, 0, 0]);
    const kept = distill([det(box, 0.9), det(box, 0.8)], p, DEFAULT_NMS);
    expect(Array.from(kept.keep)).toEqual([0]);
  });
});

describe('overlap candidates for full-coverage plans (tile geometry)', () => {
  // ROI 1300x512 at (7,3), tile 512/128: tiles start at x = 7 + {0, 262, 524, 786, 788} (see tiling tests).
  const p = plan({ x: 7, y: 3, width: 1300, height: 512 }, 512, 128, 512, 'full-coverage');

  it('marks boxes touching two or more tiles', () => {
    const packed = packDetections([
      det([107, 50, 117, 60]), // x 100..110 from the ROI corner: only tile 0 (tile 1 starts at 262)
      det([7 + 1290, 50, 7 + 1295, 60]), // inside the last two tiles (786..1298 and 788..1300)
      det([7 + 300, 50, 7 + 310, 60]), // inside tiles 0 (0..512) and 1 (262..774)
    ]);
    expect(Array.from(tileOverlapCandidates(packed.boxes, p).groups)).toEqual([-1, 0, 0]);
  });

  it('de-duplicates candidates only', () => {
    const dets = [
      det([107, 50, 117, 60], 0.9),
      det([107, 50, 117, 60], 0.8), // duplicate inside one tile: not a tiling artefact, kept
      det([1297, 50, 1302, 60], 0.9),
      det([1297, 50, 1302, 60], 0.8), // duplicate in the anchored-tile overlap: dropped
    ];
    expect(Array.from(distill(dets, p, DEFAULT_NMS).keep)).toEqual([0, 1, 2]);
  });
});

describe('distill', () => {
  const p = plan({ x: 0, y: 0, width: 25000, height: 12000 }, 4096, 100, 10000);
  // [4000,...] lies in a tile overlap (tile key (0,1,0,1)); [10,...] lies in no overlap.
  const dets = [det([4000, 4000, 4050, 4050], 0.9), det([4000, 4000, 4050, 4050], 0.8), det([10, 10, 60, 60], 0.7)];

  it('NONE keeps everything with the original scores', () => {
    const r = distill(dets, p, { algorithm: 'NONE' });
    expect(Array.from(r.keep)).toEqual([0, 1, 2]);
    expect(Array.from(r.scores)).toEqual([0.9, 0.8, 0.7]);
  });

  it('SOFT_NMS returns decayed scores for overlap candidates and original scores elsewhere', () => {
    // identical boxes with sigma 0.5: 0.8 * exp(-1/0.5) = 0.8 * 0.135335 = 0.108268
    const soft: Distillation = { algorithm: 'SOFT_NMS', iouThreshold: 0.75, skipBoxThreshold: 0.0001, sigma: 0.5 };
    const r = distill(dets, p, soft);
    expect(Array.from(r.keep)).toEqual([0, 1, 2]);
    expect(r.scores[0]).toBe(0.9);
    expect(r.scores[1]).toBeCloseTo(0.8 * Math.exp(-2), 12);
    expect(r.scores[2]).toBe(0.7);
    // defaults (sigma 0.1): 0.8 * exp(-10) = 3.6e-5 <= 0.0001 -> dropped
    expect(Array.from(distill(dets, p, DEFAULT_SOFT_NMS).keep)).toEqual([0, 2]);
  });

  it('rejects an unknown algorithm', () => {
    expect(() => distill(dets, p, { algorithm: 'MAGIC' } as unknown as Distillation)).toThrow(
      'unknown distillation algorithm "MAGIC"',
    );
  });
});

describe('distillOffThread', () => {
  const plan = planTiling({ bounds: { x: 0, y: 0, width: 2048, height: 2048 }, tileSize: { width: 512, height: 512 }, overlap: { width: 128, height: 128 }, regionSize: { width: 10240, height: 10240 } });

  it('de-duplicates on its own thread while the main thread keeps running its timers', async () => {
    // 12,000 copies of one box in a tile overlap, each scored higher than the one before: NMS keeps the last alone.
    // All of them overlap, the worst case of the clustering (quadratic): about a second of work.
    const n = 12_000;
    const packed = packDetections(Array.from({ length: n }, (_, i) => ({ bounds: [400, 400, 450, 450] as [number, number, number, number], label: 'x', score: i / n })));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let ticksWhenDone = -1;
    const result = await distillOffThread(packed, plan, { algorithm: 'NMS', iouThreshold: 0.75 }, 0).finally(() => {
      ticksWhenDone = ticks;
      clearInterval(timer);
    });
    expect(Array.from(result.keep)).toEqual([n - 1]);
    expect(Array.from(result.scores)).toEqual([(n - 1) / n]);
    // Inline, not one tick could have run before the result.
    expect(ticksWhenDone).toBeGreaterThan(5);
    // The caller's arrays are its own still (copied into the thread, not moved).
    expect(packed.boxes.length).toBe(4 * n);
  });

  it('runs small sets inline with the same result as distill', async () => {
    const packed = packDetections([
      { bounds: [400, 400, 450, 450], label: 'x', score: 0.9 },
      { bounds: [402, 400, 452, 450], label: 'x', score: 0.8 },
      { bounds: [10, 10, 20, 20], label: 'x', score: 0.7 },
    ]);
    const result = await distillOffThread(packed, plan, { algorithm: 'NMS', iouThreshold: 0.75 });
    expect(Array.from(result.keep)).toEqual([0, 2]);
  });
});
