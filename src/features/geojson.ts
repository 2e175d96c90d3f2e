import { pythonRound } from '../util/python-round.js';

/** The GeoJSON shapes Tessera reads from models and writes out (RFC 7946, with OSML's extra properties). */
export type Position = number[];

export type Geometry =
  | { type: 'Point'; coordinates: Position }
  | { type: 'MultiPoint'; coordinates: Position[] }
  | { type: 'LineString'; coordinates: Position[] }
  | { type: 'MultiLineString'; coordinates: Position[][] }
  | { type: 'Polygon'; coordinates: Position[][] }
  | { type: 'MultiPolygon'; coordinates: Position[][][] }
  | { type: 'GeometryCollection'; geometries: Geometry[] };

export interface Feature {
  type: 'Feature';
  id?: string | number;
  bbox?: number[];
  geometry: Geometry | null;
  properties: Record<string, unknown>;
}

export type Bounds = [number, number, number, number];

const GEOMETRY_TYPES = new Set(['Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon', 'GeometryCollection']);

export function isGeometry(value: unknown): value is Geometry {
  if (!value || typeof value !== 'object') return false;
  const g = value as { type?: unknown; coordinates?: unknown; geometries?: unknown };
  if (typeof g.type !== 'string' || !GEOMETRY_TYPES.has(g.type)) return false;
  return g.type === 'GeometryCollection' ? Array.isArray(g.geometries) : Array.isArray(g.coordinates);
}

/** Applies fn to every position of a geometry, returning a new geometry of the same type. */
export function mapPositions(geometry: Geometry, fn: (p: Position) => Position): Geometry {
  switch (geometry.type) {
    case 'Point': return { type: 'Point', coordinates: fn(geometry.coordinates) };
    case 'MultiPoint': return { type: 'MultiPoint', coordinates: geometry.coordinates.map(fn) };
    case 'LineString': return { type: 'LineString', coordinates: geometry.coordinates.map(fn) };
    case 'MultiLineString': return { type: 'MultiLineString', coordinates: geometry.coordinates.map((l) => l.map(fn)) };
    case 'Polygon': return { type: 'Polygon', coordinates: geometry.coordinates.map((r) => r.map(fn)) };
    case 'MultiPolygon': return { type: 'MultiPolygon', coordinates: geometry.coordinates.map((p) => p.map((r) => r.map(fn))) };
    case 'GeometryCollection': return { type: 'GeometryCollection', geometries: geometry.geometries.map((g) => mapPositions(g, fn)) };
  }
}

export function forEachPosition(geometry: Geometry, fn: (p: Position) => void): void {
  mapPositions(geometry, (p) => {
    fn(p);
    return p;
  });
}

/** [minx, miny, maxx, maxy] over all positions, or null for an empty geometry. */
export function geometryBounds(geometry: Geometry): Bounds | null {
  let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
  forEachPosition(geometry, (p) => {
    if (p[0] < minx) minx = p[0];
    if (p[0] > maxx) maxx = p[0];
    if (p[1] < miny) miny = p[1];
    if (p[1] > maxy) maxy = p[1];
  });
  return minx === Infinity ? null : [minx, miny, maxx, maxy];
}

/**
 * Centroid as shapely computes it: area-weighted for polygons (holes subtract), length-weighted for lines, mean of
 * points; for a collection the highest dimension wins. Null for an empty or degenerate geometry.
 */
export function centroid(geometry: Geometry): [number, number] | null {
  const polys: Position[][][] = [];
  const lines: Position[][] = [];
  const points: Position[] = [];
  const collect = (g: Geometry): void => {
    switch (g.type) {
      case 'Polygon': polys.push(g.coordinates); break;
      case 'MultiPolygon': polys.push(...g.coordinates); break;
      case 'LineString': lines.push(g.coordinates); break;
      case 'MultiLineString': lines.push(...g.coordinates); break;
      case 'Point': points.push(g.coordinates); break;
      case 'MultiPoint': points.push(...g.coordinates); break;
      case 'GeometryCollection': g.geometries.forEach(collect); break;
    }
  };
  collect(geometry);
  let area = 0, cx = 0, cy = 0;
  for (const rings of polys) {
    rings.forEach((ring, i) => {
      // Shoelace relative to the ring's first vertex for precision far from the origin.
      const [x0, y0] = ring[0] ?? [0, 0];
      let a = 0, sx = 0, sy = 0;
      for (let k = 0; k + 1 < ring.length; k++) {
        const xa = ring[k][0] - x0, ya = ring[k][1] - y0, xb = ring[k + 1][0] - x0, yb = ring[k + 1][1] - y0;
        const cross = xa * yb - xb * ya;
        a += cross;
        sx += (xa + xb) * cross;
        sy += (ya + yb) * cross;
      }
      const ringArea = Math.abs(a / 2) * (i === 0 ? 1 : -1);
      if (a !== 0) {
        cx += (sx / (3 * a) + x0) * ringArea;
        cy += (sy / (3 * a) + y0) * ringArea;
        area += ringArea;
      }
    });
  }
  if (area !== 0) return [cx / area, cy / area];
  let length = 0;
  cx = 0;
  cy = 0;
  for (const line of lines) {
    for (let k = 0; k + 1 < line.length; k++) {
      const len = Math.hypot(line[k + 1][0] - line[k][0], line[k + 1][1] - line[k][1]);
      cx += ((line[k][0] + line[k + 1][0]) / 2) * len;
      cy += ((line[k][1] + line[k + 1][1]) / 2) * len;
      length += len;
    }
  }
  if (length > 0) return [cx / length, cy / length];
  const pts = points.length ? points : [...polys.flat(2), ...lines.flat()];
  if (!pts.length) return null;
  return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
}

/** Python's round(x, digits) (OSML's outputs were written with it and are compared by exact equality). */
export const roundHalfEven = pythonRound;

export function roundGeometry(geometry: Geometry, digits = 6): Geometry {
  return mapPositions(geometry, (p) => p.map((v) => roundHalfEven(v, digits)));
}
