// GDAL as the judge of encoded tiles: open bytes from its in-memory filesystem, read GCPs and NITF corners back.
import { expect } from 'vitest';
import gdal from 'gdal-async';

let fileCounter = 0;

/** Opens encoded bytes from /vsimem, runs `check`, and asserts GDAL raised no error or warning meanwhile. */
export function withGdal(bytes: Uint8Array, extension: string, check: (ds: gdal.Dataset) => void): void {
  const path = `/vsimem/tessera-test-${process.pid}-${fileCounter++}.${extension}`;
  gdal.vsimem.set(Buffer.from(bytes), path);
  try {
    gdal.lastError = null;
    const ds = gdal.open(path);
    try {
      check(ds);
      expect(gdal.lastError).toBeNull();
    } finally {
      ds.close();
    }
  } finally {
    gdal.vsimem.release(path);
  }
}

/** gdal-async returns GCPs with GDAL's C field names. */
export function readGcps(ds: gdal.Dataset): Array<{ pixel: number; line: number; x: number; y: number }> {
  const raw = ds.getGCPs() as Array<{ dfGCPPixel: number; dfGCPLine: number; dfGCPX: number; dfGCPY: number }>;
  return raw.map((g) => ({ pixel: g.dfGCPPixel, line: g.dfGCPLine, x: g.dfGCPX, y: g.dfGCPY }));
}

/** NITF IGEOLO is rounded to whole arc-seconds: corners are compared within half of one. */
export const HALF_ARC_SECOND = 1 / 7200;

/**
 * The four corners (UL, UR, LR, LL) as GDAL reports them for a NITF tile: GDAL reads the IGEOLO points as the
 * centres of the corner pixels, from its geotransform or, when IGEOLO is not affine, its GCPs.
 */
export function gdalNitfCorners(ds: gdal.Dataset): Array<[number, number]> {
  const { x: width, y: height } = ds.rasterSize;
  const positions: Array<[number, number]> = [[0.5, 0.5], [width - 0.5, 0.5], [width - 0.5, height - 0.5], [0.5, height - 0.5]];
  const gcps = readGcps(ds);
  if (gcps.length > 0) {
    return positions.map(([pixel, line]) => {
      const gcp = gcps.find((g) => Math.abs(g.pixel - pixel) < 1e-9 && Math.abs(g.line - line) < 1e-9);
      if (gcp === undefined) throw new Error(`no GCP at ${pixel},${line}`);
      return [gcp.x, gcp.y];
    });
  }
  const gt = ds.geoTransform!;
  return positions.map(([c, r]) => [gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]]);
}
