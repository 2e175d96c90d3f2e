import { access, constants, stat } from 'node:fs/promises';
import gdal from 'gdal-async';
import type { Georeference, GroundControlPoint } from '../geolocation/georeference.js';
import type { DataType } from '../pixels/data-type.js';
import { DATA_TYPES } from '../pixels/data-type.js';
import { applyGdalConfig } from './gdal-config.js';
import { GdalOpenError, openRaster, type S3ReadCredentials } from './s3-read-credentials.js';

/** Everything the engine needs to know about an image, read once from its header on the main thread. */
export interface RasterInfo {
  /** The path or URL the user gave. */
  location: string;
  /** What GDAL opens (a NITF_IM:n:path subdataset for a non-first image segment). */
  gdalPath: string;
  /** GDAL driver short name, upper-cased: NITF, GTIFF, PNG ... (OSML's InputFormat). */
  format: string;
  width: number;
  height: number;
  bandCount: number;
  dataType: DataType;
  /** GDAL colour interpretation per band ('Red', 'Gray', 'YCbCr_Y' ...). */
  colorInterpretation: string[];
  georeference: Georeference | null;
  /** Why the image has no usable georeference, when it has none. */
  georeferenceNote?: string;
  /** Default-domain metadata (NITF_* fields for NITF inputs). */
  metadata: Record<string, string>;
  /** How many image segments a NITF holds (1 for other formats). */
  imageSegments: number;
  /** The keys its S3 reads use (the request's imageReadRole); absent: the service's own. Every open passes them on. */
  readCredentials?: S3ReadCredentials;
  /** The only GDAL drivers any open of it may use (the service's TESSERA_GDAL_DRIVERS); absent: any. Every open passes them on. */
  drivers?: readonly string[];
}

export class RasterInputError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`${input}: ${reason}`);
    this.name = 'RasterInputError';
  }
}

export interface OpenOptions {
  /** 0-based NITF image segment (default 0). */
  imageSegment?: number;
  /** Read an S3 image with these keys (see s3-read-credentials.ts); the returned info keeps them. */
  readCredentials?: S3ReadCredentials | undefined;
  /** Open it only with these GDAL drivers (gdal-drivers.ts); the returned info keeps them. Absent: any driver. */
  drivers?: readonly string[] | undefined;
}

/** Opens an image header with GDAL and describes it; every failure names the input and the reason. */
export async function describeRaster(location: string, options: OpenOptions = {}): Promise<RasterInfo> {
  applyGdalConfig();
  const isVsi = location.startsWith('/vsi');
  if (!isVsi) {
    try {
      await access(location, constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new RasterInputError(location, code === 'ENOENT' ? 'file not found' : `cannot be read (${code})`);
    }
    const kind = await stat(location);
    // A FIFO or device would block GDAL's open forever; a folder is not an image.
    if (kind.isDirectory()) throw new RasterInputError(location, 'is a folder, not an image file');
    if (!kind.isFile()) throw new RasterInputError(location, 'is not a regular file (a pipe or device cannot be read as an image)');
  }
  const credentials = options.readCredentials;
  const drivers = options.drivers;
  let ds: gdal.Dataset;
  try {
    ds = (await openRaster(location, credentials, drivers)).dataset;
  } catch (err) {
    if (!(err instanceof GdalOpenError)) throw err;
    throw new RasterInputError(location, `not a raster image GDAL can read (${cleanGdalMessage(err)})`);
  }
  let gdalPath = location;
  const segmentCount = countImageSegments(ds);
  const segment = options.imageSegment ?? 0;
  if (!Number.isInteger(segment) || segment < 0) throw new RasterInputError(location, `image segment must be a non-negative integer, got ${segment}`);
  if (segment > 0) {
    if (ds.driver.description !== 'NITF') throw new RasterInputError(location, `image segment ${segment} requested but the file is ${ds.driver.description}, not NITF`);
    if (segment >= segmentCount) throw new RasterInputError(location, `image segment ${segment} requested but the file has ${segmentCount} image segment(s)`);
    gdalPath = `NITF_IM:${segment}:${location}`;
    ds = (await openRaster(gdalPath, credentials, drivers)).dataset;
  }
  const bandCount = ds.bands.count();
  if (bandCount === 0) throw new RasterInputError(location, 'has no raster bands (no image data)');
  const { x: width, y: height } = ds.rasterSize;
  if (width < 1 || height < 1) throw new RasterInputError(location, `has an empty raster (${width}x${height})`);
  const bands = Array.from({ length: bandCount }, (_, i) => ds.bands.get(i + 1));
  const types = new Set(bands.map((b) => b.dataType));
  if (types.size !== 1) throw new RasterInputError(location, `bands have different data types (${[...types].join(', ')})`);
  const dataType = bands[0].dataType as DataType;
  if (!DATA_TYPES.includes(dataType)) throw new RasterInputError(location, `band data type ${dataType} is not supported`);
  const metadata = (ds.getMetadata() ?? {}) as Record<string, string>;
  const { georeference, note } = readGeoreference(ds);
  const info: RasterInfo = {
    location,
    gdalPath,
    format: ds.driver.description.toUpperCase(),
    width,
    height,
    bandCount,
    dataType,
    colorInterpretation: bands.map((b) => b.colorInterpretation ?? 'Undefined'),
    georeference,
    metadata,
    imageSegments: segmentCount,
  };
  if (note) info.georeferenceNote = note;
  if (credentials) info.readCredentials = credentials;
  if (drivers) info.drivers = drivers;
  ds.close();
  return info;
}

function countImageSegments(ds: gdal.Dataset): number {
  if (ds.driver.description !== 'NITF') return 1;
  const subs = ds.getMetadata('SUBDATASETS') as Record<string, string> | null;
  const n = subs ? Object.keys(subs).filter((k) => k.endsWith('_NAME')).length : 0;
  return Math.max(1, n);
}

function readGeoreference(ds: gdal.Dataset): { georeference: Georeference | null; note?: string } {
  const gt = ds.geoTransform;
  const isIdentity = gt && gt[0] === 0 && gt[1] === 1 && gt[2] === 0 && gt[3] === 0 && gt[4] === 0 && gt[5] === 1;
  if (gt && !isIdentity) {
    return { georeference: { kind: 'geotransform', geoTransform: [...gt], crs: toProj4(ds.srs) } };
  }
  const gcps = ds.getGCPs();
  if (gcps.length >= 4) {
    const points: GroundControlPoint[] = gcps.map((g) => ({ pixel: g.dfGCPPixel, line: g.dfGCPLine, x: g.dfGCPX, y: g.dfGCPY, z: g.dfGCPZ }));
    const wkt = ds.getGCPProjection();
    const crs = wkt ? toProj4(gdal.SpatialReference.fromWKT(wkt)) : null;
    return { georeference: { kind: 'gcps', gcps: points, crs } };
  }
  if (gcps.length > 0) return { georeference: null, note: `only ${gcps.length} GCPs (at least 4 are needed)` };
  const rpc = ds.getMetadata('RPC') as Record<string, string> | null;
  if (rpc && Object.keys(rpc).length > 0) return { georeference: null, note: 'RPC sensor models are not supported yet' };
  return { georeference: null, note: 'no geotransform or GCPs' };
}

function toProj4(srs: gdal.SpatialReference | null): string | null {
  if (!srs) return null;
  try {
    return srs.toProj4();
  } catch {
    return null;
  }
}

export function cleanGdalMessage(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/\s+/g, ' ').trim();
}
