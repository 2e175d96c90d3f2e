// Georeferencing helpers shared by the tile encoders: a tile's GDAL geotransform from the full image's, the
// outer corners of a tile, and the CRS facts the GeoTIFF keys need (EPSG code, geographic vs projected).

/** GDAL affine transform: x = gt[0] + col·gt[1] + row·gt[2], y = gt[3] + col·gt[4] + row·gt[5]. */
export type GeoTransform = readonly [number, number, number, number, number, number];

/** [x, y] in the transform's CRS (for geographic CRSs: [lon, lat] in degrees). */
export type XY = [number, number];

/** The four outer corners of a tile in the order NITF IGEOLO and OSML use: UL, UR, LR, LL. */
export type TileCorners = [XY, XY, XY, XY];

export function assertGeoTransform(geoTransform: readonly number[]): asserts geoTransform is GeoTransform {
  if (geoTransform.length !== 6 || !geoTransform.every(Number.isFinite)) {
    throw new Error(`geoTransform must be 6 finite numbers, got [${geoTransform.join(', ')}]`);
  }
}

/** Geotransform of the tile whose upper-left pixel is (col, row) of the image described by `imageGeoTransform`. */
export function tileGeoTransform(imageGeoTransform: readonly number[], col: number, row: number): GeoTransform {
  assertGeoTransform(imageGeoTransform);
  const [x0, dxCol, dxRow, y0, dyCol, dyRow] = imageGeoTransform;
  return [x0 + col * dxCol + row * dxRow, dxCol, dxRow, y0 + col * dyCol + row * dyRow, dyCol, dyRow];
}

/** Applies a geotransform to continuous pixel coordinates (0,0 = outer corner of the first pixel). */
export function applyGeoTransform(geoTransform: readonly number[], col: number, row: number): XY {
  return [
    geoTransform[0] + col * geoTransform[1] + row * geoTransform[2],
    geoTransform[3] + col * geoTransform[4] + row * geoTransform[5],
  ];
}

/** Outer corners (pixel edges, as OSML's image_to_world of (0,0), (w,0), (w,h), (0,h)) in UL, UR, LR, LL order. */
export function geoTransformCorners(geoTransform: readonly number[], width: number, height: number): TileCorners {
  assertGeoTransform(geoTransform);
  return [
    applyGeoTransform(geoTransform, 0, 0),
    applyGeoTransform(geoTransform, width, 0),
    applyGeoTransform(geoTransform, width, height),
    applyGeoTransform(geoTransform, 0, height),
  ];
}

/** True when the transform has no rotation/shear and rows run north to south (GeoTIFF tiepoint + scale form). */
export function isNorthUp(geoTransform: GeoTransform): boolean {
  return geoTransform[2] === 0 && geoTransform[4] === 0 && geoTransform[1] > 0 && geoTransform[5] < 0;
}

// EPSG codes in 4000–4999 that are projected CRSs (PROJ 9 database, non-deprecated). Every other code in that
// range is geographic (or geocentric/3D, irrelevant for rasters); codes outside it are mostly projected.
const PROJECTED_CODE_RANGES_IN_4000S: ReadonlyArray<readonly [number, number]> = [
  [4026, 4026], [4037, 4038], [4048, 4051], [4056, 4063], [4071, 4071], [4082, 4083], [4087, 4087],
  [4093, 4096], [4217, 4217], [4390, 4415], [4417, 4434], [4437, 4439], [4455, 4457], [4462, 4462],
  [4467, 4467], [4471, 4471], [4484, 4489], [4491, 4554], [4559, 4559], [4568, 4589], [4647, 4647],
  [4652, 4656], [4766, 4800], [4812, 4812], [4822, 4822], [4826, 4826], [4839, 4839],
];

/**
 * Best guess whether an EPSG code names a geographic CRS, for callers that only know the code. It is exact for
 * 4000–4999 (where WGS 84 = 4326, NAD83 = 4269, ETRS89 = 4258 … live) but treats the ~140 geographic codes
 * outside that range (e.g. 6318, 7844) as projected: pass `geographic` explicitly for those.
 */
export function isLikelyGeographicEpsg(epsg: number): boolean {
  if (epsg < 4000 || epsg > 4999) return false;
  return !PROJECTED_CODE_RANGES_IN_4000S.some(([first, last]) => epsg >= first && epsg <= last);
}

export interface CrsSummary {
  epsg: number;
  geographic: boolean;
}

/**
 * Reduces the CRS description a caller has (EPSG code and/or WKT, optional explicit kind) to what GeoTIFF keys
 * can carry. Returns undefined when no EPSG code is known, in which case only the transform is written.
 */
export function summarizeCrs(crs: { epsg?: number; wkt?: string; geographic?: boolean }): CrsSummary | undefined {
  const wktFacts = crs.wkt !== undefined ? readWktFacts(crs.wkt) : undefined;
  const epsg = crs.epsg ?? wktFacts?.epsg;
  if (epsg === undefined) return undefined;
  if (!Number.isInteger(epsg) || epsg <= 0 || epsg > 65535) {
    throw new Error(`EPSG code must be an integer in 1..65535 to fit a GeoKey, got ${epsg}`);
  }
  const geographic = crs.geographic ?? wktFacts?.geographic ?? isLikelyGeographicEpsg(epsg);
  return { epsg, geographic };
}

/**
 * Root kind and root authority code of a WKT1 or WKT2 string. The root AUTHORITY/ID is the last node before the
 * final bracket (nested ones belong to the datum, units, base CRS …).
 */
export function readWktFacts(wkt: string): { epsg?: number; geographic?: boolean } {
  const trimmed = wkt.trim();
  const root = /^([A-Z_]+)\s*[[(]/i.exec(trimmed)?.[1]?.toUpperCase();
  let geographic: boolean | undefined;
  if (root !== undefined) {
    if (['GEOGCS', 'GEOGCRS', 'GEOGRAPHICCRS', 'GEODCRS', 'GEODETICCRS', 'BASEGEOGCRS'].includes(root)) geographic = true;
    else if (['PROJCS', 'PROJCRS', 'PROJECTEDCRS'].includes(root)) geographic = false;
  }
  const rootAuthority =
    /(?:AUTHORITY\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]|ID\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*(?:,[^\]]*)?\])\s*[\])]\s*$/i.exec(
      trimmed,
    );
  const code = rootAuthority?.[1] ?? rootAuthority?.[2];
  return { epsg: code !== undefined ? Number(code) : undefined, geographic };
}
