/**
 * Georeferencing read from a raster on the main thread, in a plain serialisable form so it can be handed to worker
 * threads (where GDAL is not available) and turned into a sensor model there.
 */
export interface GroundControlPoint {
  pixel: number; // column
  line: number; // row
  x: number; // in the GCP CRS (lon or easting)
  y: number; // in the GCP CRS (lat or northing)
  z: number;
}

export type Georeference =
  /** GDAL geotransform: X = gt0 + col*gt1 + row*gt2, Y = gt3 + col*gt4 + row*gt5, in `crs`. */
  | { kind: 'geotransform'; geoTransform: number[]; crs: string | null }
  /** At least 4 GCPs; fitted with a projective (homography) model, exact at 4 corner points. */
  | { kind: 'gcps'; gcps: GroundControlPoint[]; crs: string | null };

/** True when a proj4 definition is already WGS84 longitude/latitude, so no reprojection is needed. */
export function isWgs84LonLat(crs: string | null): boolean {
  if (crs === null) return true; // no CRS: OSML (and GDAL) treat the coordinates as WGS84 degrees
  const d = crs.replace(/\s+/g, ' ').trim();
  return /\+proj=longlat\b/.test(d) && (/\+datum=WGS84\b/.test(d) || /\+ellps=WGS84\b/.test(d)) && !/\+towgs84=(?!0,0,0(,0,0,0,0)?\b)/.test(d) && !/\+pm=(?!greenwich|0\b)/.test(d);
}
