// In-memory GeoTIFF writer for tiles (runs in worker threads, where GDAL is unavailable). Produces a little-endian
// classic TIFF with uncompressed, pixel-interleaved strips, plus GeoTIFF tags for the tile's georeferencing. This is
// what OSML effectively sends for GTIFF tiles: its creation options never apply, so GDAL writes uncompressed data.

import { assertGeoTransform, isNorthUp, summarizeCrs, type GeoTransform } from './tile-georef.js';

export type SampleType = 'Byte' | 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'Float32' | 'Float64';

export interface SampleTypeInfo {
  bytes: number;
  kind: 'unsigned' | 'signed' | 'float';
}

const SAMPLE_TYPES: Record<SampleType, SampleTypeInfo> = {
  Byte: { bytes: 1, kind: 'unsigned' },
  UInt16: { bytes: 2, kind: 'unsigned' },
  Int16: { bytes: 2, kind: 'signed' },
  UInt32: { bytes: 4, kind: 'unsigned' },
  Int32: { bytes: 4, kind: 'signed' },
  Float32: { bytes: 4, kind: 'float' },
  Float64: { bytes: 8, kind: 'float' },
};

export function sampleTypeInfo(sampleType: SampleType): SampleTypeInfo {
  const info = SAMPLE_TYPES[sampleType];
  if (info === undefined) throw new Error(`unsupported sample type ${String(sampleType)}`);
  return info;
}

/** Checks the raster shape and that `pixels` holds exactly width·height·bands samples; returns the sample info. */
export function checkPixelBuffer(
  pixels: Uint8Array,
  shape: { width: number; height: number; bands: number; sampleType: SampleType },
): SampleTypeInfo {
  const { width, height, bands } = shape;
  for (const [name, value] of [['width', width], ['height', height], ['bands', bands]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  }
  const info = sampleTypeInfo(shape.sampleType);
  const expectedBytes = width * height * bands * info.bytes;
  if (pixels.byteLength !== expectedBytes) {
    throw new Error(
      `pixel buffer holds ${pixels.byteLength} bytes, expected ${expectedBytes} for ${width}x${height}x${bands} ${shape.sampleType}`,
    );
  }
  return info;
}

/** A ground control point: pixel/line in the PixelIsArea convention (0,0 = outer corner of the first pixel). */
export interface GroundControlPoint {
  pixel: number;
  line: number;
  x: number;
  y: number;
  z?: number;
}

export interface GeoTiffGeoref {
  /** GDAL 6-tuple for this tile. */
  geoTransform?: number[];
  epsg?: number;
  /** Used to find the EPSG code (root AUTHORITY/ID) and the CRS kind when `epsg`/`geographic` are not given. */
  wkt?: string;
  /** Geographic (GeographicTypeGeoKey) vs projected (ProjectedCSTypeGeoKey); guessed from the code when omitted. */
  geographic?: boolean;
}

// Every tile compression the pipeline knows, so its setting can be passed through; only NONE is built so far.
export type GeoTiffCompression = 'NONE' | 'LZW' | 'DEFLATE' | 'JPEG' | 'J2K';

export interface GeoTiffOptions {
  width: number;
  height: number;
  bands: number;
  sampleType: SampleType;
  /** Input layout: band-interleaved by pixel, samples in little-endian (host) byte order. */
  interleave: 'pixel';
  georef?: GeoTiffGeoref;
  /** Written as multiple ModelTiepoints (GDAL reads them as GCPs); exclusive with georef.geoTransform. */
  gcps?: GroundControlPoint[];
  compression?: GeoTiffCompression;
  /** Defaults to RGB for 3 bands, MinIsBlack otherwise. */
  photometric?: 'RGB' | 'MINISBLACK';
}

// TIFF field types and sizes.
const TYPE_SHORT = 3;
const TYPE_LONG = 4;
const TYPE_DOUBLE = 12;
const TYPE_SIZE: Record<number, number> = { [TYPE_SHORT]: 2, [TYPE_LONG]: 4, [TYPE_DOUBLE]: 8 };

// Baseline and GeoTIFF tags.
const TAG = {
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  PhotometricInterpretation: 262,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  ExtraSamples: 338,
  SampleFormat: 339,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  GeoKeyDirectory: 34735,
} as const;

// GeoKeys (GeoTIFF 1.0 numbering, which GDAL reads and writes).
const GEOKEY = {
  GTModelType: 1024,
  GTRasterType: 1025,
  GeographicType: 2048,
  ProjectedCSType: 3072,
} as const;
const MODEL_TYPE_PROJECTED = 1;
const MODEL_TYPE_GEOGRAPHIC = 2;
const RASTER_PIXEL_IS_AREA = 1;

// Strips of about 1 MiB: one strip for typical tiles, a few for large ones, so readers never need the whole image
// in one read.
const TARGET_STRIP_BYTES = 1 << 20;
const MAX_CLASSIC_TIFF_BYTES = 2 ** 32 - 1;

interface IfdEntry {
  tag: number;
  type: number;
  values: number[];
}

/**
 * Encodes BIP pixels as an uncompressed GeoTIFF. Input samples are in host (little-endian) order, which is also the
 * file's byte order, so pixel bytes are copied verbatim.
 */
export function encodeGeoTiff(pixels: Uint8Array, opts: GeoTiffOptions): Uint8Array {
  const compression = opts.compression ?? 'NONE';
  if (compression !== 'NONE') throw new Error(`GTIFF compression ${compression} is not supported yet`);
  if (opts.interleave !== 'pixel') throw new Error(`GTIFF input interleave ${String(opts.interleave)} is not supported`);
  const sample = checkPixelBuffer(pixels, opts);
  const { width, height, bands } = opts;

  const rowBytes = width * bands * sample.bytes;
  const rowsPerStrip = Math.min(height, Math.max(1, Math.floor(TARGET_STRIP_BYTES / rowBytes)));
  const stripCount = Math.ceil(height / rowsPerStrip);
  const stripByteCounts = Array.from({ length: stripCount }, (_, strip) =>
    Math.min(rowsPerStrip, height - strip * rowsPerStrip) * rowBytes,
  );

  const photometric = opts.photometric ?? (bands === 3 ? 'RGB' : 'MINISBLACK');
  if (photometric === 'RGB' && bands < 3) throw new Error(`GTIFF photometric RGB needs at least 3 bands, got ${bands}`);
  const colourSamples = photometric === 'RGB' ? 3 : 1;
  const sampleFormat = sample.kind === 'float' ? 3 : sample.kind === 'signed' ? 2 : 1;

  const entries: IfdEntry[] = [
    { tag: TAG.ImageWidth, type: TYPE_LONG, values: [width] },
    { tag: TAG.ImageLength, type: TYPE_LONG, values: [height] },
    { tag: TAG.BitsPerSample, type: TYPE_SHORT, values: new Array<number>(bands).fill(sample.bytes * 8) },
    { tag: TAG.Compression, type: TYPE_SHORT, values: [1] },
    { tag: TAG.PhotometricInterpretation, type: TYPE_SHORT, values: [photometric === 'RGB' ? 2 : 1] },
    { tag: TAG.StripOffsets, type: TYPE_LONG, values: new Array<number>(stripCount).fill(0) }, // patched below
    { tag: TAG.SamplesPerPixel, type: TYPE_SHORT, values: [bands] },
    { tag: TAG.RowsPerStrip, type: TYPE_LONG, values: [rowsPerStrip] },
    { tag: TAG.StripByteCounts, type: TYPE_LONG, values: stripByteCounts },
    { tag: TAG.PlanarConfiguration, type: TYPE_SHORT, values: [1] },
  ];
  if (bands > colourSamples) {
    // 0 = unspecified data: extra bands are not alpha.
    entries.push({ tag: TAG.ExtraSamples, type: TYPE_SHORT, values: new Array<number>(bands - colourSamples).fill(0) });
  }
  entries.push({ tag: TAG.SampleFormat, type: TYPE_SHORT, values: new Array<number>(bands).fill(sampleFormat) });
  entries.push(...geoTiffEntries(opts.georef, opts.gcps));
  entries.sort((a, b) => a.tag - b.tag);

  // Layout: header, IFD, out-of-line tag values, pixel data; offsets kept 8-byte aligned for the doubles.
  const ifdOffset = 8;
  const ifdBytes = 2 + entries.length * 12 + 4;
  let cursor = align8(ifdOffset + ifdBytes);
  const valueOffsets = entries.map((entry) => {
    const size = entryByteSize(entry);
    if (size <= 4) return -1;
    const offset = cursor;
    cursor = align8(cursor + size);
    return offset;
  });
  const pixelOffset = cursor;
  const fileBytes = pixelOffset + pixels.byteLength;
  if (fileBytes > MAX_CLASSIC_TIFF_BYTES) {
    throw new Error(`GTIFF tile of ${fileBytes} bytes exceeds the 4 GiB classic TIFF limit`);
  }
  const stripOffsets = entries.find((entry) => entry.tag === TAG.StripOffsets)!;
  stripOffsets.values = stripByteCounts.map((_, strip) => pixelOffset + strip * rowsPerStrip * rowBytes);

  const out = new Uint8Array(fileBytes);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49], 0); // "II": little-endian
  view.setUint16(2, 42, true);
  view.setUint32(4, ifdOffset, true);
  view.setUint16(ifdOffset, entries.length, true);
  entries.forEach((entry, index) => {
    const at = ifdOffset + 2 + index * 12;
    view.setUint16(at, entry.tag, true);
    view.setUint16(at + 2, entry.type, true);
    view.setUint32(at + 4, entry.values.length, true);
    const valueOffset = valueOffsets[index];
    if (valueOffset < 0) {
      writeValues(view, at + 8, entry);
    } else {
      view.setUint32(at + 8, valueOffset, true);
      writeValues(view, valueOffset, entry);
    }
  });
  view.setUint32(ifdOffset + 2 + entries.length * 12, 0, true); // no next IFD
  out.set(pixels, pixelOffset);
  return out;
}

function geoTiffEntries(georef: GeoTiffGeoref | undefined, gcps: GroundControlPoint[] | undefined): IfdEntry[] {
  const geoTransform = georef?.geoTransform;
  const hasGcps = gcps !== undefined && gcps.length > 0;
  if (geoTransform === undefined && !hasGcps) return [];
  if (geoTransform !== undefined && hasGcps) {
    throw new Error('GTIFF georef: give either a geoTransform or GCPs, not both (GeoTIFF stores one of them)');
  }

  const entries: IfdEntry[] = [];
  if (geoTransform !== undefined) {
    assertGeoTransform(geoTransform);
    entries.push(...transformEntries(geoTransform));
  } else {
    const tiepoints = gcps!.flatMap((gcp) => [gcp.pixel, gcp.line, 0, gcp.x, gcp.y, gcp.z ?? 0]);
    if (!tiepoints.every(Number.isFinite)) throw new Error('GTIFF GCPs must be finite numbers');
    entries.push({ tag: TAG.ModelTiepoint, type: TYPE_DOUBLE, values: tiepoints });
  }

  // Without a CRS, no key directory at all: GDAL would turn a bare one into an "unnamed" engineering CRS, while
  // without it GDAL reports no CRS and PixelIsArea (the default) all the same.
  const crs = georef !== undefined ? summarizeCrs(georef) : undefined;
  if (crs === undefined) return entries;
  const keys: Array<[number, number]> = [
    [GEOKEY.GTModelType, crs.geographic ? MODEL_TYPE_GEOGRAPHIC : MODEL_TYPE_PROJECTED],
    [GEOKEY.GTRasterType, RASTER_PIXEL_IS_AREA],
    [crs.geographic ? GEOKEY.GeographicType : GEOKEY.ProjectedCSType, crs.epsg],
  ];
  // Header: KeyDirectoryVersion 1, KeyRevision 1.0, key count; each key stored inline (TIFFTagLocation 0, count 1).
  const directory = [1, 1, 0, keys.length, ...keys.flatMap(([key, value]) => [key, 0, 1, value])];
  entries.push({ tag: TAG.GeoKeyDirectory, type: TYPE_SHORT, values: directory });
  return entries;
}

function transformEntries(geoTransform: GeoTransform): IfdEntry[] {
  const [x0, dxCol, dxRow, y0, dyCol, dyRow] = geoTransform;
  if (isNorthUp(geoTransform)) {
    return [
      { tag: TAG.ModelPixelScale, type: TYPE_DOUBLE, values: [dxCol, -dyRow, 0] },
      { tag: TAG.ModelTiepoint, type: TYPE_DOUBLE, values: [0, 0, 0, x0, y0, 0] },
    ];
  }
  // Rotated, sheared or south-up: the full affine matrix (row-major 4x4).
  return [
    {
      tag: TAG.ModelTransformation,
      type: TYPE_DOUBLE,
      values: [dxCol, dxRow, 0, x0, dyCol, dyRow, 0, y0, 0, 0, 0, 0, 0, 0, 0, 1],
    },
  ];
}

function entryByteSize(entry: IfdEntry): number {
  return entry.values.length * TYPE_SIZE[entry.type];
}

function writeValues(view: DataView, offset: number, entry: IfdEntry): void {
  const size = TYPE_SIZE[entry.type];
  entry.values.forEach((value, i) => {
    const at = offset + i * size;
    if (entry.type === TYPE_SHORT) view.setUint16(at, value, true);
    else if (entry.type === TYPE_LONG) view.setUint32(at, value, true);
    else view.setFloat64(at, value, true);
  });
}

function align8(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}
