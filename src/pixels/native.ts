/**
 * Typed surface over the Rust N-API module (`native/tessera.node`, built by
 * `native/build.sh`): tile pixel conversion (with complex I/Q amplitude) and
 * JPEG/PNG/JPEG 2000 encoding and zlib deflate on the hot path. Options are validated here with precise messages before the native
 * call; the native side re-validates (it must never trust JS), so both layers
 * throw the same kinds of errors:
 *   TypeError  code ERR_INVALID_ARG_TYPE   wrong JS type
 *   TypeError  code ERR_INVALID_ARG_VALUE  unknown/unsupported value
 *   RangeError code ERR_OUT_OF_RANGE       number out of range, buffer too small
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type DataType = 'Byte' | 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'Float32' | 'Float64';
export type OutputType = 'Byte' | 'UInt16' | 'same';
export type PngFilter = 'none' | 'sub' | 'up' | 'average' | 'paeth';

export const BYTES_PER_SAMPLE: Readonly<Record<DataType, number>> = {
  Byte: 1,
  UInt16: 2,
  Int16: 2,
  UInt32: 4,
  Int32: 4,
  Float32: 4,
  Float64: 8,
};

const COMPLEX_TYPES = new Set(['CInt16', 'CInt32', 'CFloat32', 'CFloat64']);
const OUTPUT_TYPES: readonly OutputType[] = ['Byte', 'UInt16', 'same'];
const PNG_FILTERS: readonly PngFilter[] = ['none', 'sub', 'up', 'average', 'paeth'];

export interface ConvertOptions {
  /** Window size in pixels. */
  width: number;
  height: number;
  /** Planes in the source (band-sequential: plane b starts at b*width*height*bytesPerSample). */
  bandCount: number;
  /** Source sample type, native-endian (little endian on all supported platforms). */
  dataType: DataType;
  /** 0-based source planes to output, in output order, e.g. [2, 1, 0]; 1..4 entries. */
  bands: readonly number[];
  /** 'same' copies samples exactly (no clamping, no ranges). */
  outputType: OutputType;
  /**
   * Complex SAR input (SICD I/Q): planes 2k and 2k+1 are the I and Q of complex band k, `bandCount` counts planes
   * (so it must be even) and `bands` name complex bands k (0 <= k < bandCount / 2). Each output sample is the
   * amplitude v = Math.sqrt(I * I + Q * Q) in double precision, then `ranges` (or round-and-clamp) as below;
   * outputType 'same' is refused (the amplitude is not a source sample).
   */
  complex?: 'amplitude';
  /**
   * Optional per-output-band linear stretch, one [min, max] (min <= max) per entry of `bands`:
   *   out = round(clamp((v - min) * outMax / (max - min), 0, outMax))
   * with outMax 255 (Byte) or 65535 (UInt16), evaluated in double precision exactly as that JS
   * expression would be, rounding halves up. min == max (a constant band's MINMAX) is that
   * expression's limit: v > min gives outMax, v <= min gives 0. Without ranges values are
   * rounded and clamped to the output range. NaN becomes 0.
   */
  ranges?: ReadonlyArray<readonly [number, number]>;
}

/** Contract version shared with native/src/lib.rs (ABI_VERSION). */
const ABI_VERSION = 3;

interface NativeModule {
  abiVersion: number;
  pngDefaults: string;
  convert(source: Uint8Array, options: ConvertOptions, output: Uint8Array): void;
  encodeJpeg(pixels: Uint8Array, width: number, height: number, channels: number, quality: number): Buffer;
  encodePng(
    pixels: Uint8Array,
    width: number,
    height: number,
    channels: number,
    bitDepth: number,
    level: number | undefined,
    filter: PngFilter | undefined,
  ): Buffer;
  encodeJ2k(pixels: Uint8Array, width: number, height: number, channels: number, bitDepth: number, options: J2kOptions | undefined): Buffer;
  deflateZlib(bytes: Uint8Array, level: number): Buffer;
  gdalBind(libraryPath: string): void;
  gdalSetPathOption(prefix: string, key: string, value: string | null): void;
  gdalClearPathOptions(prefix: string): void;
  gdalClearCurlCache(prefix: string): void;
  gdalSetConfigOption(key: string, value: string | null): void;
}

let loaded: { module: NativeModule; path: string } | undefined;

/** Finds native/tessera.node from src/pixels (vitest, tsx) or dist/src/pixels (compiled). */
function locate(): { path: string | undefined; tried: string[] } {
  const override = process.env.TESSERA_NATIVE_PATH;
  if (override) return { path: existsSync(override) ? resolve(override) : undefined, tried: [override] };
  const tried: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'native', 'tessera.node');
    tried.push(candidate);
    if (existsSync(candidate)) return { path: candidate, tried };
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return { path: undefined, tried };
}

function native(): NativeModule {
  if (loaded) return loaded.module;
  const { path, tried } = locate();
  if (!path) {
    throw new Error(`tessera native module not found (looked at ${tried.join(', ')}); build it with: bash native/build.sh`);
  }
  const module = createRequire(import.meta.url)(path) as NativeModule;
  if (module.abiVersion !== ABI_VERSION) {
    throw new Error(
      `tessera native module at ${path} has ABI ${String(module.abiVersion)}, this code expects ${ABI_VERSION}; rebuild it with: bash native/build.sh`,
    );
  }
  loaded = { module, path };
  return module;
}

/** Where the module was loaded from and its build-time defaults (for logs and benchmarks). */
export function nativeInfo(): { path: string; abiVersion: number; pngDefaults: string } {
  const m = native();
  return { path: loaded!.path, abiVersion: m.abiVersion, pngDefaults: m.pngDefaults };
}

// ------------------------------------------------------------------ validation

type ErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

function fail(code: ErrorCode, message: string): never {
  const error = code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message);
  throw Object.assign(error, { code });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'Array';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (typeof value === 'number') return `number ${value}`;
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  return typeof value;
}

function checkBytes(fn: string, what: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) fail('ERR_INVALID_ARG_TYPE', `${fn}: ${what} must be a Uint8Array (got ${describe(value)})`);
  return value;
}

function checkInt(fn: string, what: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: ${what} must be a number (got ${describe(value)})`);
  if (!Number.isInteger(value)) fail('ERR_OUT_OF_RANGE', `${fn}: ${what} = ${value} must be an integer`);
  if (value < lo || value > hi) fail('ERR_OUT_OF_RANGE', `${fn}: ${what} = ${value} is out of range ${lo}..${hi}`);
  return value;
}

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteLength > 0 &&
    b.byteLength > 0 &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

function checkConvertOptions(options: unknown): ConvertOptions {
  const fn = 'convertTile';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail('ERR_INVALID_ARG_TYPE', `${fn}: options must be an object (got ${describe(options)})`);
  }
  const o = options as Record<string, unknown>;
  const width = checkInt(fn, 'options.width', o.width, 1, 0xffffffff);
  const height = checkInt(fn, 'options.height', o.height, 1, 0xffffffff);
  const bandCount = checkInt(fn, 'options.bandCount', o.bandCount, 1, 65535);

  const dataType = o.dataType;
  if (typeof dataType !== 'string') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.dataType must be a string (got ${describe(dataType)})`);
  if (COMPLEX_TYPES.has(dataType)) {
    fail('ERR_INVALID_ARG_VALUE', `${fn}: options.dataType = '${dataType}' (complex) is not supported yet; convert complex data to magnitude first`);
  }
  if (!Object.hasOwn(BYTES_PER_SAMPLE, dataType)) {
    fail('ERR_INVALID_ARG_VALUE', `${fn}: options.dataType = '${dataType}' is not one of ${Object.keys(BYTES_PER_SAMPLE).join(', ')}`);
  }

  const complex = o.complex;
  if (complex !== undefined) {
    if (typeof complex !== 'string') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.complex must be a string (got ${describe(complex)})`);
    if (complex !== 'amplitude') fail('ERR_INVALID_ARG_VALUE', `${fn}: options.complex = '${complex}' is not supported; the only value is 'amplitude'`);
    if (bandCount % 2 !== 0) {
      fail(
        'ERR_OUT_OF_RANGE',
        `${fn}: options.bandCount = ${bandCount} is odd, but complex 'amplitude' reads I/Q plane pairs (planes 2k and 2k+1 form complex band k)`,
      );
    }
  }
  // With complex data `bands` name complex bands (I/Q pairs), not planes.
  const bandLimit = complex === undefined ? bandCount : bandCount / 2;
  const sourceDesc = complex === undefined ? `${bandCount}-band source` : `${bandCount}-plane source of ${bandLimit} complex (I/Q) band(s)`;

  const bands = o.bands;
  if (!Array.isArray(bands)) fail('ERR_INVALID_ARG_TYPE', `${fn}: options.bands must be an Array (got ${describe(bands)})`);
  if (bands.length < 1 || bands.length > 4) {
    fail('ERR_OUT_OF_RANGE', `${fn}: options.bands has ${bands.length} entries; 1 to 4 are supported`);
  }
  bands.forEach((b: unknown, i) => {
    if (typeof b !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.bands[${i}] must be a number (got ${describe(b)})`);
    if (!Number.isInteger(b) || b < 0 || b >= bandLimit) {
      fail('ERR_OUT_OF_RANGE', `${fn}: options.bands[${i}] = ${b} is out of range for a ${sourceDesc}`);
    }
  });

  const outputType = o.outputType;
  if (typeof outputType !== 'string') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.outputType must be a string (got ${describe(outputType)})`);
  if (!(OUTPUT_TYPES as readonly string[]).includes(outputType)) {
    fail('ERR_INVALID_ARG_VALUE', `${fn}: options.outputType = '${outputType}' is not one of ${OUTPUT_TYPES.join(', ')}`);
  }
  if (complex !== undefined && outputType === 'same') {
    fail(
      'ERR_INVALID_ARG_VALUE',
      `${fn}: options.outputType 'same' cannot be used with complex 'amplitude' (the amplitude is not a source sample); use 'Byte' or 'UInt16'`,
    );
  }

  const ranges = o.ranges;
  if (ranges !== undefined) {
    if (outputType === 'same') {
      fail('ERR_INVALID_ARG_VALUE', `${fn}: options.ranges cannot be used with outputType 'same' (an exact copy); use 'Byte' or 'UInt16'`);
    }
    if (!Array.isArray(ranges)) fail('ERR_INVALID_ARG_TYPE', `${fn}: options.ranges must be an Array (got ${describe(ranges)})`);
    if (ranges.length !== bands.length) {
      fail(
        'ERR_OUT_OF_RANGE',
        `${fn}: options.ranges has ${ranges.length} entries but options.bands has ${bands.length}; give one [min, max] per output band`,
      );
    }
    ranges.forEach((r: unknown, i) => {
      const what = `options.ranges[${i}]`;
      if (!Array.isArray(r)) fail('ERR_INVALID_ARG_TYPE', `${fn}: ${what} must be an Array (got ${describe(r)})`);
      if (r.length !== 2) fail('ERR_OUT_OF_RANGE', `${fn}: ${what} must be [min, max] (got ${r.length} entries)`);
      r.forEach((x: unknown, j) => {
        if (typeof x !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: ${what}[${j}] must be a number (got ${describe(x)})`);
        if (!Number.isFinite(x)) fail('ERR_OUT_OF_RANGE', `${fn}: ${what}[${j}] = ${x} must be a finite number`);
      });
      if ((r[0] as number) > (r[1] as number)) {
        fail('ERR_OUT_OF_RANGE', `${fn}: ${what} = [${String(r[0])}, ${String(r[1])}]: min must not exceed max`);
      }
    });
  }
  return {
    width,
    height,
    bandCount,
    dataType: dataType as DataType,
    bands,
    outputType: outputType as OutputType,
    ...(ranges !== undefined ? { ranges } : {}),
    ...(complex !== undefined ? { complex: 'amplitude' as const } : {}),
  };
}

// ------------------------------------------------------------------ API

/** Bytes one output sample takes for these options. */
export function outputBytesPerSample(options: Pick<ConvertOptions, 'dataType' | 'outputType'>): number {
  return options.outputType === 'Byte' ? 1 : options.outputType === 'UInt16' ? 2 : BYTES_PER_SAMPLE[options.dataType];
}

/**
 * Converts a band-sequential window into pixel-interleaved (BIP) samples of
 * `bands.length` channels, length width*height*bands.length*outBytes.
 * `source` may be a view over a SharedArrayBuffer. When `output` is given and
 * large enough it is written (a view of exactly the result length is returned)
 * so callers can reuse one buffer per worker; otherwise a new array is allocated.
 */
export function convertTile(source: Uint8Array, options: ConvertOptions, output?: Uint8Array): Uint8Array {
  const fn = 'convertTile';
  checkBytes(fn, 'source', source);
  const o = checkConvertOptions(options);
  const pixels = o.width * o.height;
  const needSource = pixels * o.bandCount * BYTES_PER_SAMPLE[o.dataType];
  if (source.byteLength < needSource) {
    fail(
      'ERR_OUT_OF_RANGE',
      `${fn}: source is too small: ${o.bandCount} band(s) of ${o.width}×${o.height} ${o.dataType} need ${needSource} bytes, got ${source.byteLength}`,
    );
  }
  const need = pixels * o.bands.length * outputBytesPerSample(o);
  if (!Number.isSafeInteger(need)) fail('ERR_OUT_OF_RANGE', `${fn}: options.width × options.height (${o.width} × ${o.height}) is too large`);

  let target: Uint8Array;
  if (output !== undefined) {
    checkBytes(fn, 'output', output);
    if (output.byteLength >= need) {
      if (overlaps(output, source)) fail('ERR_INVALID_ARG_VALUE', `${fn}: output must not share memory with source`);
      target = output.byteLength === need ? output : output.subarray(0, need);
    } else {
      target = new Uint8Array(need);
    }
  } else {
    target = new Uint8Array(need);
  }
  native().convert(source, o, target);
  return target;
}

/** Baseline JPEG (4:2:0 for RGB, greyscale for 1 channel) via libjpeg-turbo. */
export function encodeJpeg(pixels: Uint8Array, width: number, height: number, channels: 1 | 3, quality: number): Buffer {
  const fn = 'encodeJpeg';
  checkBytes(fn, 'pixels', pixels);
  checkInt(fn, 'width', width, 1, 65500);
  checkInt(fn, 'height', height, 1, 65500);
  if (channels !== 1 && channels !== 3) {
    if (typeof channels !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: channels must be a number (got ${describe(channels)})`);
    fail('ERR_OUT_OF_RANGE', `${fn}: channels = ${String(channels)} is not supported by JPEG; use 1 (grey) or 3 (RGB)`);
  }
  checkInt(fn, 'quality', quality, 1, 100);
  const need = width * height * channels;
  if (pixels.byteLength < need) {
    fail('ERR_OUT_OF_RANGE', `${fn}: pixels is too small: ${width}×${height}×${channels} needs ${need} bytes, got ${pixels.byteLength}`);
  }
  return native().encodeJpeg(pixels, width, height, channels, quality);
}

/**
 * PNG (no interlace). 16-bit samples are given native-endian in `pixels` and
 * written big-endian as PNG requires. `level` is a libdeflate level 0..12
 * (1..9 behave like zlib's); `level` and `filter` default to a fast choice
 * measured in bench/encoders.ts (see nativeInfo().pngDefaults).
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  bitDepth: 8 | 16,
  level?: number,
  filter?: PngFilter,
): Buffer {
  const fn = 'encodePng';
  checkBytes(fn, 'pixels', pixels);
  checkInt(fn, 'width', width, 1, 0x7fffffff);
  checkInt(fn, 'height', height, 1, 0x7fffffff);
  checkInt(fn, 'channels', channels, 1, 4);
  if (bitDepth !== 8 && bitDepth !== 16) {
    if (typeof bitDepth !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: bitDepth must be a number (got ${describe(bitDepth)})`);
    fail('ERR_OUT_OF_RANGE', `${fn}: bitDepth = ${String(bitDepth)} is not supported; use 8 or 16`);
  }
  if (level !== undefined) checkInt(fn, 'level', level, 0, 12);
  if (filter !== undefined && !(PNG_FILTERS as readonly unknown[]).includes(filter)) {
    fail('ERR_INVALID_ARG_VALUE', `${fn}: filter = ${describe(filter)} is not one of ${PNG_FILTERS.join(', ')}`);
  }
  const need = width * height * channels * (bitDepth / 8);
  if (!Number.isSafeInteger(need)) fail('ERR_OUT_OF_RANGE', `${fn}: width × height (${width} × ${height}) is too large`);
  if (pixels.byteLength < need) {
    fail(
      'ERR_OUT_OF_RANGE',
      `${fn}: pixels is too small: ${width}×${height}×${channels} at ${bitDepth} bits needs ${need} bytes, got ${pixels.byteLength}`,
    );
  }
  return native().encodePng(pixels, width, height, channels, bitDepth, level, filter);
}

export interface J2kOptions {
  /**
   * 5/3 reversible wavelet: numerically lossless when no compressionRatio truncates the codestream. Defaults to
   * true without a compressionRatio and false (9/7 irreversible wavelet) with one.
   */
  reversible?: boolean;
  /** Target compression ratio, e.g. 20 for 20:1 (one quality layer); >= 1. Without it every coefficient is kept. */
  compressionRatio?: number;
  /** Bits actually used per sample (the codestream's component precision, e.g. 12 for 12-bit data in 16); default bitDepth. */
  precision?: number;
  /** Two's-complement samples (Int8/Int16); default false. */
  signed?: boolean;
}

/**
 * A raw JPEG 2000 codestream (J2K: SOC..EOC, no JP2 boxes, as NITF IC=C8 carries) via openjpeg: one tile, up to 6
 * resolution levels, the RGB->YCC transform for 3 channels; 1 to 16384 channels (JPEG 2000's limit). `pixels` are BIP,
 * native-endian for 16 bits. Every
 * sample must fit `precision` bits (checked; a RangeError names the first offending value).
 */
export function encodeJ2k(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  bitDepth: 8 | 16,
  options?: J2kOptions,
): Buffer {
  const fn = 'encodeJ2k';
  checkBytes(fn, 'pixels', pixels);
  checkInt(fn, 'width', width, 1, 1 << 20);
  checkInt(fn, 'height', height, 1, 1 << 20);
  checkInt(fn, 'channels', channels, 1, 16384);
  if (bitDepth !== 8 && bitDepth !== 16) {
    if (typeof bitDepth !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: bitDepth must be a number (got ${describe(bitDepth)})`);
    fail('ERR_OUT_OF_RANGE', `${fn}: bitDepth = ${String(bitDepth)} is not supported; use 8 or 16`);
  }
  let checked: J2kOptions | undefined;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      fail('ERR_INVALID_ARG_TYPE', `${fn}: options must be an object (got ${describe(options)})`);
    }
    const { reversible, compressionRatio, precision, signed } = options as Record<string, unknown>;
    for (const [name, value] of [['reversible', reversible], ['signed', signed]] as const) {
      if (value !== undefined && typeof value !== 'boolean') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.${name} must be a boolean (got ${describe(value)})`);
    }
    if (compressionRatio !== undefined) {
      if (typeof compressionRatio !== 'number') fail('ERR_INVALID_ARG_TYPE', `${fn}: options.compressionRatio must be a number (got ${describe(compressionRatio)})`);
      if (!Number.isFinite(compressionRatio)) fail('ERR_OUT_OF_RANGE', `${fn}: options.compressionRatio = ${compressionRatio} must be a finite number`);
      if (compressionRatio < 1) fail('ERR_OUT_OF_RANGE', `${fn}: options.compressionRatio = ${compressionRatio} must be at least 1 (e.g. 20 for 20:1)`);
    }
    if (precision !== undefined) checkInt(fn, 'options.precision', precision, 1, bitDepth);
    if (signed === true && precision === 1) fail('ERR_OUT_OF_RANGE', `${fn}: options.precision = 1 cannot hold signed samples; use 2 or more`);
    checked = {
      ...(reversible !== undefined ? { reversible: reversible as boolean } : {}),
      ...(compressionRatio !== undefined ? { compressionRatio: compressionRatio as number } : {}),
      ...(precision !== undefined ? { precision: precision as number } : {}),
      ...(signed !== undefined ? { signed: signed as boolean } : {}),
    };
  }
  const need = width * height * channels * (bitDepth / 8);
  if (pixels.byteLength < need) {
    fail(
      'ERR_OUT_OF_RANGE',
      `${fn}: pixels is too small: ${width}×${height}×${channels} at ${bitDepth} bits needs ${need} bytes, got ${pixels.byteLength}`,
    );
  }
  return native().encodeJ2k(pixels, width, height, channels, bitDepth, checked);
}

/**
 * One zlib stream (RFC 1950: deflate with the zlib header and Adler-32), what PNG's IDAT and TIFF's Adobe deflate
 * (Compression=8) hold, via libdeflate. `level` is a libdeflate level 0..12 (0 = stored; 1..9 behave like zlib's).
 */
export function deflateZlib(bytes: Uint8Array, level: number): Buffer {
  const fn = 'deflateZlib';
  checkBytes(fn, 'bytes', bytes);
  checkInt(fn, 'level', level, 0, 12);
  return native().deflateZlib(bytes, level);
}

// ------------------------------------------------------------------ GDAL

/** The GDAL calls gdal-async does not bind (native/src/gdal_vsi.rs), on the libgdal given to `bindGdalVsi`. */
export interface GdalVsi {
  /** VSISetPathSpecificOption (GDAL >= 3.6); null removes the key. */
  setPathOption(prefix: string, key: string, value: string | null): void;
  /** VSIClearPathSpecificOptions for exactly this prefix. */
  clearPathOptions(prefix: string): void;
  /** VSICurlPartialClearCache: GDAL's cached sizes and blocks of the paths under this prefix. */
  clearCurlCache(prefix: string): void;
  /** CPLSetConfigOption in that library (null unsets). */
  setConfigOption(key: string, value: string | null): void;
}

/**
 * Binds the GDAL functions of a libgdal already loaded in this process (the one gdal-async uses; the native module
 * never loads a second copy). See src/raster/s3-read-credentials.ts.
 */
export function bindGdalVsi(libraryPath: string): GdalVsi {
  const m = native();
  m.gdalBind(libraryPath);
  return {
    setPathOption: (prefix, key, value) => m.gdalSetPathOption(prefix, key, value),
    clearPathOptions: (prefix) => m.gdalClearPathOptions(prefix),
    clearCurlCache: (prefix) => m.gdalClearCurlCache(prefix),
    setConfigOption: (key, value) => m.gdalSetConfigOption(key, value),
  };
}
