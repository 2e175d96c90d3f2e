// In-memory GeoTIFF writer for tiles (runs in worker threads, where GDAL is unavailable). Produces a little-endian
// classic TIFF with pixel-interleaved strips, plus GeoTIFF tags for the tile's georeferencing. Compression NONE is
// what OSML effectively sends (its creation options never apply, so GDAL writes uncompressed data); Tessera also
// applies LZW (TypeScript, tiff-lzw.ts), DEFLATE (native libdeflate, zlib-wrapped: Adobe deflate) and JPEG (native
// libjpeg-turbo, one JPEG stream per strip, YCbCr 4:2:0 for 3 bands), all read back by GDAL 3.6.
//
// Per-tile cost, encodeTile on one core, min of runs (2-core VM shared with other jobs, medians 10-40 % higher), 3-band
// Byte; ratio = raw bytes / file bytes; "aerial" = cogeo.tif (mirrored to 2048²), "synthetic" = gradient + noise:
//   512²  aerial:     NONE 0.1 ms | LZW 14 ms (2.0x) | DEFLATE 17 ms (2.0x) | JPEG q90 0.8 ms (14x)
//   2048² aerial:     NONE 3.6 ms | LZW 370 ms (1.9x) | DEFLATE 340 ms (1.9x) | JPEG q90 15 ms (13x)
//   2048² synthetic:  NONE 3.5 ms | LZW 350 ms (1.5x) | DEFLATE 384 ms (1.8x) | JPEG q90 14 ms (19x)
//   2048² 1-band UInt16 synthetic: LZW 176 ms (1.3x) | DEFLATE 384 ms (1.4x)
// Same machine, GDAL 3.6 GTiff on the main thread (2048² synthetic): LZW 217 ms, DEFLATE (libdeflate, level 6)
// 215 ms, JPEG 70 ms; the native PNG (libdeflate) 115-173 ms at equal ratio, so a native deflate would halve DEFLATE.
// Measured since (2048² 3-band Byte, predictor 2, 1 MiB strips, deflate only, best / median of 7, shared VM):
//   aerial:    node:zlib L1 260 / 335 ms (1.90x) | libdeflate L1 148 / 186 ms (1.92x)
//   synthetic: node:zlib L1 546 / 655 ms (1.64x) | libdeflate L1 278 / 291 ms (1.64x)
// so DEFLATE strips go through the native libdeflate (deflateZlib), about 2x faster at the same or a better ratio.
// Choices measured on the real fixtures (cogeo, i_3309a, i_3430a, n47 DEM): Predictor 2 beats 1 for LZW and DEFLATE
// on every integer image (e.g. LZW 1.09x -> 1.85x on cogeo), so it is the default for integers; zlib level 6 gives
// only 2-13 % smaller files than level 1 for 1.5-8x the time, so DEFLATE defaults to level 1 (libdeflate: 1-8 %
// smaller than level 6 costs 2-4x the time on the same tiles).

import { deflateZlib, encodeJpeg } from '../pixels/native.js';
import { lzwEncode } from './tiff-lzw.js';
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

// Every tile compression the pipeline knows, so its setting can be passed through; J2K is not built (GDAL's GTiff
// driver has no JPEG 2000 codec in libtiff either).
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
  /** JPEG quality 1..100 for compression JPEG; defaults to 75 like GDAL's JPEG_QUALITY. */
  quality?: number;
  /**
   * TIFF Predictor for LZW and DEFLATE: 1 none, 2 horizontal differencing (integer samples only). Defaults to 2 for
   * integer samples and 1 for floating point, as measured (see the top of this file).
   */
  predictor?: 1 | 2;
  /** libdeflate level 1..12 for DEFLATE (1..9 behave like zlib's); defaults to DEFAULT_DEFLATE_LEVEL. */
  deflateLevel?: number;
  /** Defaults to RGB for 3 bands, MinIsBlack otherwise. JPEG-compressed 3-band tiles are always YCbCr. */
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
  Predictor: 317,
  ExtraSamples: 338,
  SampleFormat: 339,
  YCbCrSubSampling: 530,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  GeoKeyDirectory: 34735,
} as const;

// TIFF Compression tag values: none, LZW, JPEG ("new-style", one JPEG interchange stream per strip), Adobe deflate.
const COMPRESSION_CODE = { NONE: 1, LZW: 5, JPEG: 7, DEFLATE: 8 } as const;
const PHOTOMETRIC_MINISBLACK = 1;
const PHOTOMETRIC_RGB = 2;
const PHOTOMETRIC_YCBCR = 6;

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

// Strips of about 1 MiB before compression: one strip for typical tiles, a few for large ones, so readers never need
// the whole image in one read; the compression ratio of LZW/DEFLATE barely changes at this size.
const TARGET_STRIP_BYTES = 1 << 20;
const MAX_CLASSIC_TIFF_BYTES = 2 ** 32 - 1;
/** libdeflate level for DEFLATE tiles (see the measurements at the top of this file). */
export const DEFAULT_DEFLATE_LEVEL = 1;
const DEFAULT_JPEG_QUALITY = 75;
/** libjpeg-turbo and JPEG itself: at most 65500 pixels per side. */
const MAX_JPEG_SIDE = 65500;

interface IfdEntry {
  tag: number;
  type: number;
  values: number[];
}

type BuiltCompression = keyof typeof COMPRESSION_CODE;

/**
 * Encodes BIP pixels as a GeoTIFF, uncompressed or with LZW, DEFLATE or JPEG strips. Input samples are in host
 * (little-endian) order, which is also the file's byte order, so uncompressed pixel bytes are copied verbatim.
 */
export function encodeGeoTiff(pixels: Uint8Array, opts: GeoTiffOptions): Uint8Array {
  const compression = opts.compression ?? 'NONE';
  if (!Object.hasOwn(COMPRESSION_CODE, compression)) {
    throw new Error(`GTIFF compression ${compression} is not supported yet (supported: ${Object.keys(COMPRESSION_CODE).join(', ')})`);
  }
  if (opts.interleave !== 'pixel') throw new Error(`GTIFF input interleave ${String(opts.interleave)} is not supported`);
  const sample = checkPixelBuffer(pixels, opts);
  const { width, height, bands } = opts;
  const jpeg = compression === 'JPEG';
  if (jpeg) checkJpegInput(opts, sample);

  const rowBytes = width * bands * sample.bytes;
  // JPEG strips hold whole MCU rows (16 lines for 4:2:0 colour, 8 for grey) except the last one.
  const rowQuantum = jpeg ? (bands === 3 ? 16 : 8) : 1;
  const fittingRows = Math.max(rowQuantum, Math.floor(TARGET_STRIP_BYTES / rowBytes / rowQuantum) * rowQuantum);
  const rowsPerStrip = Math.min(height, fittingRows);
  const stripCount = Math.ceil(height / rowsPerStrip);

  const predictor = compression === 'LZW' || compression === 'DEFLATE' ? choosePredictor(opts.predictor, sample) : 1;
  const source = predictor === 2 ? horizontalDifferences(pixels, width, height, bands, sample.bytes) : pixels;
  const strips: Uint8Array[] = [];
  for (let strip = 0; strip < stripCount; strip++) {
    const rows = Math.min(rowsPerStrip, height - strip * rowsPerStrip);
    const raw = source.subarray(strip * rowsPerStrip * rowBytes, (strip * rowsPerStrip + rows) * rowBytes);
    strips.push(encodeStrip(raw, compression as BuiltCompression, { width, rows, bands, opts }));
  }

  const photometric = jpeg && bands === 3 ? PHOTOMETRIC_YCBCR : photometricCode(opts.photometric ?? (bands === 3 ? 'RGB' : 'MINISBLACK'), bands);
  const colourSamples = photometric === PHOTOMETRIC_MINISBLACK ? 1 : 3;
  const sampleFormat = sample.kind === 'float' ? 3 : sample.kind === 'signed' ? 2 : 1;

  const entries: IfdEntry[] = [
    { tag: TAG.ImageWidth, type: TYPE_LONG, values: [width] },
    { tag: TAG.ImageLength, type: TYPE_LONG, values: [height] },
    { tag: TAG.BitsPerSample, type: TYPE_SHORT, values: new Array<number>(bands).fill(sample.bytes * 8) },
    { tag: TAG.Compression, type: TYPE_SHORT, values: [COMPRESSION_CODE[compression as BuiltCompression]] },
    { tag: TAG.PhotometricInterpretation, type: TYPE_SHORT, values: [photometric] },
    { tag: TAG.StripOffsets, type: TYPE_LONG, values: new Array<number>(stripCount).fill(0) }, // patched below
    { tag: TAG.SamplesPerPixel, type: TYPE_SHORT, values: [bands] },
    { tag: TAG.RowsPerStrip, type: TYPE_LONG, values: [rowsPerStrip] },
    { tag: TAG.StripByteCounts, type: TYPE_LONG, values: strips.map((strip) => strip.byteLength) },
    { tag: TAG.PlanarConfiguration, type: TYPE_SHORT, values: [1] },
  ];
  if (predictor !== 1) entries.push({ tag: TAG.Predictor, type: TYPE_SHORT, values: [predictor] });
  if (bands > colourSamples) {
    // 0 = unspecified data: extra bands are not alpha.
    entries.push({ tag: TAG.ExtraSamples, type: TYPE_SHORT, values: new Array<number>(bands - colourSamples).fill(0) });
  }
  entries.push({ tag: TAG.SampleFormat, type: TYPE_SHORT, values: new Array<number>(bands).fill(sampleFormat) });
  // The JPEG streams are 4:2:0 YCbCr (libjpeg-turbo's default); libtiff checks the stream against this tag.
  if (photometric === PHOTOMETRIC_YCBCR) entries.push({ tag: TAG.YCbCrSubSampling, type: TYPE_SHORT, values: [2, 2] });
  entries.push(...geoTiffEntries(opts.georef, opts.gcps));
  entries.sort((a, b) => a.tag - b.tag);

  // Layout: header, IFD, out-of-line tag values, strip data; offsets kept 8-byte aligned for the doubles.
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
  const stripOffsets = entries.find((entry) => entry.tag === TAG.StripOffsets)!;
  stripOffsets.values = strips.map((strip) => {
    const offset = cursor;
    cursor += strip.byteLength;
    return offset;
  });
  const fileBytes = cursor;
  if (fileBytes > MAX_CLASSIC_TIFF_BYTES) {
    throw new Error(`GTIFF tile of ${fileBytes} bytes exceeds the 4 GiB classic TIFF limit`);
  }

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
  strips.forEach((strip, index) => out.set(strip, stripOffsets.values[index]));
  return out;
}

function photometricCode(photometric: 'RGB' | 'MINISBLACK', bands: number): number {
  if (photometric === 'RGB' && bands < 3) throw new Error(`GTIFF photometric RGB needs at least 3 bands, got ${bands}`);
  return photometric === 'RGB' ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
}

/** JPEG carries 8-bit grey or colour only (libjpeg-turbo's 8-bit codec, as GDAL's default build). */
function checkJpegInput(opts: GeoTiffOptions, sample: SampleTypeInfo): void {
  if (sample.bytes !== 1 || sample.kind !== 'unsigned') {
    throw new Error(
      `GTIFF tiles with compression JPEG need 8-bit (Byte) samples, got ${opts.sampleType}: choose a range adjustment, or compression NONE, LZW or DEFLATE`,
    );
  }
  if (opts.bands !== 1 && opts.bands !== 3) {
    throw new Error(`GTIFF tiles with compression JPEG need 1 or 3 bands, got ${opts.bands}: select bands, or use compression NONE, LZW or DEFLATE`);
  }
  if (opts.width > MAX_JPEG_SIDE) throw new Error(`GTIFF tiles with compression JPEG are at most ${MAX_JPEG_SIDE} pixels wide, got ${opts.width}`);
  const quality = opts.quality ?? DEFAULT_JPEG_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new Error(`GTIFF JPEG quality must be an integer 1..100, got ${quality}`);
}

function choosePredictor(requested: 1 | 2 | undefined, sample: SampleTypeInfo): 1 | 2 {
  if (requested === undefined) return sample.kind === 'float' ? 1 : 2;
  if (requested !== 1 && requested !== 2) throw new Error(`GTIFF predictor must be 1 or 2, got ${String(requested)}`);
  if (requested === 2 && sample.kind === 'float') throw new Error('GTIFF predictor 2 (horizontal differencing) is for integer samples, not floating point');
  return requested;
}

function encodeStrip(
  raw: Uint8Array,
  compression: BuiltCompression,
  strip: { width: number; rows: number; bands: number; opts: GeoTiffOptions },
): Uint8Array {
  switch (compression) {
    case 'NONE':
      return raw;
    case 'LZW':
      return lzwEncode(raw);
    case 'DEFLATE': {
      const level = strip.opts.deflateLevel ?? DEFAULT_DEFLATE_LEVEL;
      if (!Number.isInteger(level) || level < 1 || level > 12) throw new Error(`GTIFF deflate level must be an integer 1..12, got ${level}`);
      // zlib-wrapped deflate, which is what TIFF's Adobe deflate (8) holds.
      const packed = deflateZlib(raw, level);
      return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
    }
    case 'JPEG': {
      const packed = encodeJpeg(raw, strip.width, strip.rows, strip.bands as 1 | 3, strip.opts.quality ?? DEFAULT_JPEG_QUALITY);
      return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
    }
  }
}

/**
 * TIFF Predictor 2: each sample minus the same band's sample in the previous pixel of the row, modulo the sample
 * width, on the host-order integers (as libtiff does before compressing). Returns a new buffer.
 */
export function horizontalDifferences(pixels: Uint8Array, width: number, height: number, bands: number, sampleBytes: number): Uint8Array {
  const out = new Uint8Array(pixels.byteLength);
  const aligned = pixels.byteOffset % sampleBytes === 0 ? pixels : pixels.slice();
  const count = aligned.byteLength / sampleBytes;
  // One monomorphic loop per width (a shared generic loop is several times slower); typed-array stores wrap modulo
  // 2^bits, which is the predictor's arithmetic.
  if (sampleBytes === 1) differenceRows8(aligned, out, width * bands, height, bands);
  else if (sampleBytes === 2) differenceRows16(new Uint16Array(aligned.buffer, aligned.byteOffset, count), new Uint16Array(out.buffer, 0, count), width * bands, height, bands);
  else if (sampleBytes === 4) differenceRows32(new Uint32Array(aligned.buffer, aligned.byteOffset, count), new Uint32Array(out.buffer, 0, count), width * bands, height, bands);
  else throw new Error(`GTIFF predictor 2 is not built for ${sampleBytes * 8}-bit samples`);
  return out;
}

function differenceRows8(src: Uint8Array, dst: Uint8Array, rowSamples: number, height: number, bands: number): void {
  for (let start = 0, end = rowSamples; start < height * rowSamples; start = end, end += rowSamples) {
    for (let i = start; i < start + bands; i++) dst[i] = src[i];
    for (let i = start + bands; i < end; i++) dst[i] = src[i] - src[i - bands];
  }
}

function differenceRows16(src: Uint16Array, dst: Uint16Array, rowSamples: number, height: number, bands: number): void {
  for (let start = 0, end = rowSamples; start < height * rowSamples; start = end, end += rowSamples) {
    for (let i = start; i < start + bands; i++) dst[i] = src[i];
    for (let i = start + bands; i < end; i++) dst[i] = src[i] - src[i - bands];
  }
}

function differenceRows32(src: Uint32Array, dst: Uint32Array, rowSamples: number, height: number, bands: number): void {
  for (let start = 0, end = rowSamples; start < height * rowSamples; start = end, end += rowSamples) {
    for (let i = start; i < start + bands; i++) dst[i] = src[i];
    for (let i = start + bands; i < end; i++) dst[i] = src[i] - src[i - bands];
  }
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
