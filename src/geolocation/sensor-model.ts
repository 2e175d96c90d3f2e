import proj4 from 'proj4';
import { type Georeference, isWgs84LonLat } from './georeference.js';

/** Image pixel (column x, row y) to WGS84 [longitude, latitude, elevation] and back. */
export interface SensorModel {
  imageToWorld(x: number, y: number): [number, number, number];
  worldToImage(lon: number, lat: number): [number, number];
}

type Mat3 = [number, number, number, number, number, number, number, number, number];

/** Builds the sensor model for a georeference; throws with the reason when the georeference is unusable. */
export function createSensorModel(georef: Georeference): SensorModel {
  const toWgs84 = crsConverter(georef.crs);
  const forward = georef.kind === 'geotransform' ? geoTransformMatrix(georef.geoTransform) : fitGcps(georef.gcps);
  let inverse: Mat3 | null = null; // computed on first use: a forward-only model (rounded GCPs) can still geolocate
  return {
    imageToWorld(x, y) {
      const [X, Y] = applyMat(forward, x, y);
      const [lon, lat] = toWgs84 ? toWgs84.forward([X, Y]) : [X, Y];
      return [lon, lat, 0];
    },
    worldToImage(lon, lat) {
      const [X, Y] = toWgs84 ? toWgs84.inverse([lon, lat]) : [lon, lat];
      inverse ??= invert3(forward);
      return applyMat(inverse, X, Y);
    },
  };
}

function crsConverter(crs: string | null): { forward(p: number[]): number[]; inverse(p: number[]): number[] } | null {
  if (isWgs84LonLat(crs)) return null;
  try {
    return proj4(crs as string, 'EPSG:4326');
  } catch (err) {
    throw new Error(`cannot transform the image CRS to WGS84 (${crs}): ${(err as Error).message}`);
  }
}

function geoTransformMatrix(gt: number[]): Mat3 {
  if (gt.length !== 6 || gt.some((v) => !Number.isFinite(v))) throw new Error(`invalid geotransform [${gt.join(', ')}]`);
  if (gt[1] * gt[5] - gt[2] * gt[4] === 0) throw new Error(`degenerate geotransform [${gt.join(', ')}]`);
  return [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3], 0, 0, 1];
}

function applyMat(m: Mat3, x: number, y: number): [number, number] {
  const w = m[6] * x + m[7] * y + m[8];
  return [(m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w];
}

function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (det === 0 || !Number.isFinite(det)) throw new Error('georeference cannot be inverted (its GCPs do not span both axes)');
  return [
    A / det, -(b * i - c * h) / det, (b * f - c * e) / det,
    B / det, (a * i - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * h - b * g) / det, (a * e - b * d) / det,
  ];
}

/**
 * GCPs: a projective fit when the points determine one, else (e.g. corner GCPs rounded to whole arc-seconds on a
 * tiny chip, where two corners coincide) a least-squares affine fit.
 */
function fitGcps(gcps: { pixel: number; line: number; x: number; y: number }[]): Mat3 {
  if (gcps.length < 4) throw new Error(`at least 4 GCPs are needed for a sensor model, got ${gcps.length}`);
  try {
    const h = fitProjective(gcps);
    invert3(h);
    return h;
  } catch {
    try {
      return fitAffine(gcps);
    } catch {
      throw new Error('GCPs are degenerate (collinear or repeated): no sensor model');
    }
  }
}

function fitAffine(gcps: { pixel: number; line: number; x: number; y: number }[]): Mat3 {
  const ata = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const bx = [0, 0, 0], by = [0, 0, 0];
  const p0 = gcps[0];
  for (const g of gcps) {
    const row = [g.pixel - p0.pixel, g.line - p0.line, 1];
    for (let r = 0; r < 3; r++) {
      bx[r] += row[r] * (g.x - p0.x);
      by[r] += row[r] * (g.y - p0.y);
      for (let c = 0; c < 3; c++) ata[r][c] += row[r] * row[c];
    }
  }
  const ax = solve(ata, bx), ay = solve(ata, by);
  // Shift back from the first GCP's origin.
  const m: Mat3 = [ax[0], ax[1], ax[2] + p0.x - ax[0] * p0.pixel - ax[1] * p0.line, ay[0], ay[1], ay[2] + p0.y - ay[0] * p0.pixel - ay[1] * p0.line, 0, 0, 1];
  if (ax[0] === 0 && ax[1] === 0 && ay[0] === 0 && ay[1] === 0) throw new Error('all GCPs map to one point');
  return m;
}

/**
 * Least-squares homography from pixel/line to GCP coordinates (exact for 4 points). Points are normalised first so
 * the 8x8 normal equations stay well conditioned for gigapixel images.
 */
function fitProjective(gcps: { pixel: number; line: number; x: number; y: number }[]): Mat3 {
  const norm = (vals: number[]) => {
    const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
    const scale = Math.max(...vals.map((v) => Math.abs(v - mean))) || 1;
    return { mean, scale };
  };
  const np = norm(gcps.map((g) => g.pixel)), nl = norm(gcps.map((g) => g.line));
  const nx = norm(gcps.map((g) => g.x)), ny = norm(gcps.map((g) => g.y));
  const ata = Array.from({ length: 8 }, () => new Array<number>(8).fill(0));
  const atb = new Array<number>(8).fill(0);
  const add = (row: number[], rhs: number) => {
    for (let r = 0; r < 8; r++) {
      atb[r] += row[r] * rhs;
      for (let c = 0; c < 8; c++) ata[r][c] += row[r] * row[c];
    }
  };
  for (const g of gcps) {
    const c = (g.pixel - np.mean) / np.scale, r = (g.line - nl.mean) / nl.scale;
    const X = (g.x - nx.mean) / nx.scale, Y = (g.y - ny.mean) / ny.scale;
    add([c, r, 1, 0, 0, 0, -c * X, -r * X], X);
    add([0, 0, 0, c, r, 1, -c * Y, -r * Y], Y);
  }
  const h = solve(ata, atb);
  const hn: Mat3 = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1];
  // Undo the normalisation: H = Tw^-1 * Hn * Ti, with Ti mapping pixels to normalised pixels.
  const ti: Mat3 = [1 / np.scale, 0, -np.mean / np.scale, 0, 1 / nl.scale, -nl.mean / nl.scale, 0, 0, 1];
  const twInv: Mat3 = [nx.scale, 0, nx.mean, 0, ny.scale, ny.mean, 0, 0, 1];
  return mul3(twInv, mul3(hn, ti));
}

function mul3(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
  return out;
}

/** Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    if (Math.abs(m[pivot][col]) < 1e-12) throw new Error('GCPs are degenerate (collinear or repeated): no sensor model');
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r][col] / m[col][col];
      for (let c = col; c <= n; c++) m[r][c] -= f * m[col][c];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}
