import { wktToGeoJSON } from 'betterknown';
import type { Window } from '../tiling/window.js';
import type { SensorModel } from './sensor-model.js';
import { roundHalfEven } from '../features/geojson.js';

/** A region of interest: lon/lat polygons (exterior rings and holes), parsed from WKT. */
export type RoiPolygons = number[][][][];

export class RoiError extends Error {
  constructor(reason: string) {
    super(`region of interest: ${reason}`);
    this.name = 'RoiError';
  }
}

export function parseRoi(wkt: string): RoiPolygons {
  let geometry: { type: string; coordinates?: unknown } | null;
  try {
    geometry = wktToGeoJSON(wkt) as { type: string; coordinates?: unknown } | null;
  } catch (err) {
    throw new RoiError(`not valid WKT (${(err as Error).message}): ${JSON.stringify(wkt.slice(0, 80))}`);
  }
  if (!geometry) throw new RoiError(`not valid WKT: ${JSON.stringify(wkt.slice(0, 80))}`);
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates as number[][][]] : geometry.type === 'MultiPolygon' ? (geometry.coordinates as number[][][][]) : null;
  if (!polygons) throw new RoiError(`must be a POLYGON or MULTIPOLYGON in lon/lat, got ${geometry.type}`);
  for (const polygon of polygons) {
    if (!polygon[0]) throw new RoiError('polygon ring needs at least 4 positions (closed)');
    for (const ring of polygon) {
      if (ring.length < 4) throw new RoiError('polygon ring needs at least 4 positions (closed)');
      // As WKT and shapely (OSML) require: a ring ends where it starts.
      const [first, last] = [ring[0], ring[ring.length - 1]];
      if (first[0] !== last[0] || first[1] !== last[1]) throw new RoiError(`polygon ring is not closed: it starts at (${first[0]} ${first[1]}) and ends at (${last[0]} ${last[1]})`);
      for (const [lon, lat] of ring) {
        if (!(Math.abs(lon) <= 180 && Math.abs(lat) <= 90)) throw new RoiError(`coordinate (${lon}, ${lat}) is not a longitude/latitude`);
      }
    }
  }
  return polygons;
}

/**
 * Processing bounds for an ROI (OSML §3.2): the exterior rings are moved to image pixels with the sensor model,
 * clipped to the image, and the bounding box of what remains is rounded with Python's round-half-even.
 * Unlike OSML, every polygon of a MULTIPOLYGON counts, and an ROI that misses the image is an error, not a silent
 * empty job.
 */
export function roiToBounds(roi: RoiPolygons, model: SensorModel, width: number, height: number): Window {
  let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
  for (const polygon of roi) {
    const ring = polygon[0].map(([lon, lat]) => model.worldToImage(lon, lat));
    for (const [x, y] of clipToRect(ring, width, height)) {
      minx = Math.min(minx, x);
      miny = Math.min(miny, y);
      maxx = Math.max(maxx, x);
      maxy = Math.max(maxy, y);
    }
  }
  if (minx === Infinity || maxx - minx <= 0 || maxy - miny <= 0) throw new RoiError(`does not intersect the image (${width}x${height} pixels)`);
  const x = roundHalfEven(minx, 0), y = roundHalfEven(miny, 0);
  const w = roundHalfEven(maxx - minx, 0), h = roundHalfEven(maxy - miny, 0);
  if (w < 1 || h < 1) throw new RoiError(`covers less than one pixel of the image`);
  return { x, y, width: Math.min(w, width - x), height: Math.min(h, height - y) };
}

/** Sutherland–Hodgman clipping of a ring against [0,w]x[0,h] (the clip window is convex, the ring may not be). */
function clipToRect(ring: [number, number][], width: number, height: number): [number, number][] {
  type P = [number, number];
  const edges: Array<{ inside: (p: P) => boolean; cut: (a: P, b: P) => P }> = [
    { inside: (p) => p[0] >= 0, cut: (a, b) => lerpAt(a, b, 0, (a[0] - 0) / (a[0] - b[0])) },
    { inside: (p) => p[0] <= width, cut: (a, b) => lerpAt(a, b, 0, (a[0] - width) / (a[0] - b[0])) },
    { inside: (p) => p[1] >= 0, cut: (a, b) => lerpAt(a, b, 1, (a[1] - 0) / (a[1] - b[1])) },
    { inside: (p) => p[1] <= height, cut: (a, b) => lerpAt(a, b, 1, (a[1] - height) / (a[1] - b[1])) },
  ];
  let points: P[] = ring;
  for (const edge of edges) {
    const input = points;
    points = [];
    for (let i = 0; i < input.length; i++) {
      const cur = input[i], prev = input[(i + input.length - 1) % input.length];
      if (edge.inside(cur)) {
        if (!edge.inside(prev)) points.push(edge.cut(prev, cur));
        points.push(cur);
      } else if (edge.inside(prev)) {
        points.push(edge.cut(prev, cur));
      }
    }
    if (!points.length) break;
  }
  return points;
}

function lerpAt(a: [number, number], b: [number, number], _axis: number, t: number): [number, number] {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
}
