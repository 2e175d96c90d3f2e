// Every tile format x compression that Tessera builds, encoded as the worker does (encodeTile) and judged by GDAL
// (gdal-async on the main thread): driver, size, bands, data type, the compression GDAL reports, pixels (exact for
// lossless, a small mean error for JPEG on a smooth gradient) and, for GTIFF/NITF, the corners of the tile. The
// combinations that are not built must fail up front with a message naming them.
import { describe, expect, it } from 'vitest';
import gdal from 'gdal-async';
import { encodeGeoTiff, horizontalDifferences, type SampleType } from '../src/encoding/gtiff.js';
import { encodeNitf, j2kComrat, type LonLat } from '../src/encoding/nitf.js';
import { lzwEncode, lzwMaxEncodedBytes } from '../src/encoding/tiff-lzw.js';
import {
  checkTileEncoding,
  encodeTile,
  TILE_COMPRESSIONS,
  TILE_FORMATS,
  type EncodeInput,
  type TileCompression,
  type TileFormat,
} from '../src/encoding/tile-encoding.js';
import { geoTransformCorners } from '../src/encoding/tile-georef.js';
import { HALF_ARC_SECOND, gdalNitfCorners, withGdal } from './helpers/gdal-vsimem.js';

type TypedSamples = Uint8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

const SUPPORTED: Array<[TileFormat, TileCompression]> = [
  ['PNG', 'NONE'],
  ['PNG', 'DEFLATE'],
  ['JPEG', 'NONE'],
  ['JPEG', 'JPEG'],
  ['GTIFF', 'NONE'],
  ['GTIFF', 'LZW'],
  ['GTIFF', 'DEFLATE'],
  ['GTIFF', 'JPEG'],
  ['NITF', 'NONE'],
  ['NITF', 'JPEG'],
  ['NITF', 'J2K'],
];
const isSupported = (format: TileFormat, compression: TileCompression): boolean =>
  SUPPORTED.some(([f, c]) => f === format && c === compression);
const UNSUPPORTED = TILE_FORMATS.flatMap((format) =>
  TILE_COMPRESSIONS.filter((compression) => !isSupported(format, compression)).map((compression) => [format, compression] as const),
);
const LOSSY = (format: TileFormat, compression: TileCompression): boolean => format === 'JPEG' || compression === 'JPEG';

/** The extension GDAL's drivers are happy with, and the driver that must open the file. */
const FILE: Record<TileFormat, { extension: string; driver: string }> = {
  PNG: { extension: 'png', driver: 'PNG' },
  JPEG: { extension: 'jpg', driver: 'JPEG' },
  GTIFF: { extension: 'tif', driver: 'GTiff' },
  NITF: { extension: 'ntf', driver: 'NITF' },
};

const bytesOf = (samples: TypedSamples): Uint8Array => new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);

/** A smooth diagonal gradient per band (what JPEG keeps well), BIP. */
function gradient(width: number, height: number, bands: number): Uint8Array {
  const out = new Uint8Array(width * height * bands);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let b = 0; b < bands; b++) {
        out[(y * width + x) * bands + b] = Math.round(20 + (160 * (x + (b + 1) * y)) / (width + (b + 1) * height) + 30 * b);
      }
    }
  }
  return out;
}

/** Deterministic noisy samples over the type's range (worst case for LZW/DEFLATE; exercises table resets). */
function noise(count: number, sampleType: SampleType): TypedSamples {
  let state = 0x2545f491 ^ count;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  switch (sampleType) {
    case 'Byte': return Uint8Array.from({ length: count }, () => next() >>> 24);
    case 'UInt16': return Uint16Array.from({ length: count }, () => next() >>> 16);
    case 'Int16': return Int16Array.from({ length: count }, () => (next() >>> 16) - 32768);
    case 'UInt32': return Uint32Array.from({ length: count }, () => next());
    case 'Int32': return Int32Array.from({ length: count }, () => next() | 0);
    case 'Float32': return Float32Array.from({ length: count }, () => ((next() >>> 8) - 2 ** 23) / 64);
    case 'Float64': return Float64Array.from({ length: count }, () => (next() - 2 ** 31) / 1024 + 1e-9);
  }
}

/** Smooth but not constant 12-bit-in-16 data: what real imagery looks like to a predictor. */
function smooth16(width: number, height: number): Uint16Array {
  return Uint16Array.from({ length: width * height }, (_, i) => 100 + ((i % width) * 7 + Math.floor(i / width) * 3 + (i % 5)) % 4000);
}


/** Per-band pixel comparison against the BIP input: number of mismatches, mean and max absolute error. */
function compare(ds: gdal.Dataset, width: number, height: number, bands: number, samples: ArrayLike<number>) {
  let mismatches = 0;
  let firstMismatch = '';
  let sumError = 0;
  let maxError = 0;
  for (let band = 0; band < bands; band++) {
    const actual = ds.bands.get(band + 1).pixels.read(0, 0, width, height);
    expect(actual.length).toBe(width * height);
    for (let i = 0; i < width * height; i++) {
      const expected = samples[i * bands + band];
      if (!Object.is(actual[i], expected)) {
        if (mismatches === 0) firstMismatch = `band ${band + 1} pixel ${i}: got ${actual[i]}, expected ${expected}`;
        mismatches++;
      }
      const error = Math.abs(actual[i] - expected);
      sumError += error;
      maxError = Math.max(maxError, error);
    }
  }
  return { mismatches, firstMismatch, meanError: sumError / (width * height * bands), maxError };
}

function expectExact(ds: gdal.Dataset, width: number, height: number, bands: number, samples: ArrayLike<number>): void {
  const { mismatches, firstMismatch } = compare(ds, width, height, bands, samples);
  expect(firstMismatch).toBe('');
  expect(mismatches).toBe(0);
}

/** JPEG at quality 90 on a smooth gradient: a mean error around one grey level, no wild pixels. */
function expectClose(ds: gdal.Dataset, width: number, height: number, bands: number, samples: ArrayLike<number>): void {
  const { meanError, maxError } = compare(ds, width, height, bands, samples);
  expect(meanError).toBeLessThan(1.5);
  expect(maxError).toBeLessThanOrEqual(12);
}


/** Checks the tile's corners against the georeferencing that went in (GTIFF: transform, NITF: IGEOLO corners). */
function expectCorners(ds: gdal.Dataset, format: TileFormat, input: EncodeInput): void {
  const { width, height } = input;
  if (format === 'GTIFF') {
    expect(ds.geoTransform).toEqual(input.geoTransform);
    expect(ds.srs?.getAuthorityCode(null)).toBe(String(input.epsg));
    const read = geoTransformCorners(ds.geoTransform!, width, height);
    const expected = geoTransformCorners(input.geoTransform!, width, height);
    read.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(expected[i][0], 9);
      expect(y).toBeCloseTo(expected[i][1], 9);
    });
  } else if (format === 'NITF') {
    expect((ds.getMetadata() as Record<string, string>).NITF_ICORDS).toBe('G');
    expect(ds.srs?.getAuthorityCode(null)).toBe('4326');
    gdalNitfCorners(ds).forEach(([lon, lat], i) => {
      expect(Math.abs(lon - input.corners![i][0])).toBeLessThanOrEqual(HALF_ARC_SECOND);
      expect(Math.abs(lat - input.corners![i][1])).toBeLessThanOrEqual(HALF_ARC_SECOND);
    });
  } else {
    expect(ds.geoTransform).toBeNull();
  }
}

/** What GDAL reports for the compression: IMAGE_STRUCTURE COMPRESSION, and NITF_IC for NITF. */
function expectReportedCompression(ds: gdal.Dataset, format: TileFormat, compression: TileCompression, bands: number): void {
  const structure = ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>;
  const expected: Record<TileFormat, Partial<Record<TileCompression, string | undefined>>> = {
    PNG: { NONE: undefined, DEFLATE: undefined }, // deflate is inherent to PNG; GDAL reports nothing
    // GDAL's JPEG driver states COMPRESSION (with SOURCE_COLOR_SPACE) only for colour files; the driver says it all.
    JPEG: { NONE: bands === 3 ? 'JPEG' : undefined, JPEG: bands === 3 ? 'JPEG' : undefined },
    GTIFF: { NONE: undefined, LZW: 'LZW', DEFLATE: 'DEFLATE', JPEG: bands === 3 ? 'YCbCr JPEG' : 'JPEG' },
    NITF: { NONE: undefined, JPEG: 'JPEG', J2K: 'JPEG2000' },
  };
  expect(structure.COMPRESSION).toBe(expected[format][compression]);
  if (format === 'NITF') expect((ds.getMetadata() as Record<string, string>).NITF_IC).toBe({ NONE: 'NC', JPEG: 'C3', J2K: 'C8' }[compression as string]);
  // JP2OpenJPEG reports the 5/3 wavelet (what Tessera's default lossless C8 uses) this way.
  if (format === 'NITF' && compression === 'J2K') expect(structure.COMPRESSION_REVERSIBILITY).toBe('LOSSLESS (possibly)');
  if (format === 'GTIFF' && (compression === 'LZW' || compression === 'DEFLATE')) expect(structure.PREDICTOR).toBe('2');
}

/** A tile of an image whose upper-left corner is at 85.1°E 33.2°N, 1e-5° pixels (as the engine computes them). */
function tileInput(width: number, height: number, bands: number, pixels: Uint8Array, sampleType: EncodeInput['sampleType']): EncodeInput {
  const geoTransform = [85.1 + 512 * 1e-5, 1e-5, 0, 33.2 - 1024 * 1e-5, 0, -1e-5];
  const corners = geoTransformCorners(geoTransform, width, height) as [LonLat, LonLat, LonLat, LonLat];
  return { pixels, width, height, channels: bands, sampleType, geoTransform, epsg: 4326, corners };
}

describe('every supported tile format x compression decodes with GDAL', () => {
  // 300 x 200: neither side a multiple of the JPEG MCU (16), so partial blocks are exercised.
  const cases = SUPPORTED.flatMap(([format, compression]) => [1, 3].map((bands) => ({ format, compression, bands })));

  it.each(cases)('$format with $compression, $bands band(s) of Byte', ({ format, compression, bands }) => {
    const width = 300;
    const height = 200;
    const pixels = gradient(width, height, bands);
    const input = tileInput(width, height, bands, pixels, 'Byte');
    const encoding = { format, compression, quality: 90 };
    checkTileEncoding(encoding, 'Byte');
    const bytes = encodeTile(input, encoding);
    withGdal(bytes, FILE[format].extension, (ds) => {
      expect(ds.driver.description).toBe(FILE[format].driver);
      expect(ds.rasterSize).toEqual({ x: width, y: height });
      expect(ds.bands.count()).toBe(bands);
      for (let band = 1; band <= bands; band++) expect(ds.bands.get(band).dataType).toBe('Byte');
      expectReportedCompression(ds, format, compression, bands);
      if (LOSSY(format, compression)) expectClose(ds, width, height, bands, pixels);
      else expectExact(ds, width, height, bands, pixels);
      expectCorners(ds, format, input);
      if (format === 'NITF' && compression === 'JPEG') {
        const metadata = ds.getMetadata() as Record<string, string>;
        expect(metadata.NITF_IREP).toBe(bands === 3 ? 'YCbCr601' : 'MONO');
        expect(metadata.NITF_IMODE).toBe(bands === 3 ? 'P' : 'B');
      }
      if (format === 'NITF' && compression === 'J2K') {
        const metadata = ds.getMetadata() as Record<string, string>;
        expect(metadata.NITF_IREP).toBe(bands === 3 ? 'RGB' : 'MONO');
        expect(metadata.NITF_IMODE).toBe('B');
        expect(metadata.NITF_ABPP).toBe('08');
      }
    });
  });

  const lossless16 = SUPPORTED.filter(([format, compression]) => format !== 'JPEG' && compression !== 'JPEG');
  it.each(lossless16)('%s with %s carries UInt16 exactly', (format, compression) => {
    const width = 129;
    const height = 67;
    const samples = smooth16(width, height);
    const input = tileInput(width, height, 1, bytesOf(samples), 'UInt16');
    checkTileEncoding({ format, compression, quality: 90 }, 'UInt16');
    withGdal(encodeTile(input, { format, compression, quality: 90 }), FILE[format].extension, (ds) => {
      expect(ds.bands.get(1).dataType).toBe('UInt16');
      expectExact(ds, width, height, 1, samples);
      expectCorners(ds, format, input);
    });
  });
});

describe('GTIFF LZW and DEFLATE', () => {
  const sampleTypes: SampleType[] = ['Byte', 'UInt16', 'Int16', 'UInt32', 'Int32', 'Float32', 'Float64'];

  it.each(sampleTypes.flatMap((sampleType) => (['LZW', 'DEFLATE'] as const).map((compression) => ({ sampleType, compression }))))(
    '$compression keeps noisy 2-band $sampleType exactly, with the default predictor',
    ({ sampleType, compression }) => {
      const width = 97;
      const height = 45;
      const samples = noise(width * height * 2, sampleType);
      const bytes = encodeGeoTiff(bytesOf(samples), { width, height, bands: 2, sampleType, interleave: 'pixel', compression });
      withGdal(bytes, 'tif', (ds) => {
        expect(ds.bands.get(1).dataType).toBe(sampleType);
        const structure = ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>;
        expect(structure.COMPRESSION).toBe(compression);
        // Horizontal differencing for integers; none for floating point.
        expect(structure.PREDICTOR).toBe(sampleType.startsWith('Float') ? undefined : '2');
        expectExact(ds, width, height, 2, samples);
      });
    },
  );

  it('LZW survives many table resets, 12-bit codes and several strips, with either predictor', () => {
    // 1.5 MB of mixed noise and runs over 2 strips: the string table fills and is cleared many times.
    const width = 1500;
    const height = 1000;
    const noisy = noise(width * height, 'Byte') as Uint8Array;
    const pixels = noisy.map((v, i) => (Math.floor(i / 4096) % 3 === 0 ? v : (i >> 6) & 0xff));
    for (const predictor of [1, 2] as const) {
      const bytes = encodeGeoTiff(pixels, { width, height, bands: 1, sampleType: 'Byte', interleave: 'pixel', compression: 'LZW', predictor });
      withGdal(bytes, 'tif', (ds) => expectExact(ds, width, height, 1, pixels));
    }
  });

  it('LZW handles the smallest inputs', () => {
    for (const [width, height] of [[1, 1], [2, 1], [1, 3], [3, 2]]) {
      const pixels = Uint8Array.from({ length: width * height }, (_, i) => 250 - i);
      const bytes = encodeGeoTiff(pixels, { width, height, bands: 1, sampleType: 'Byte', interleave: 'pixel', compression: 'LZW' });
      withGdal(bytes, 'tif', (ds) => expectExact(ds, width, height, 1, pixels));
    }
  });

  it('LZW starts with a Clear code, ends with EOI and stays within its size bound', () => {
    // 'A' alone: Clear (256), 'A' (65), EOI (257) in 9-bit codes, MSB first.
    expect([...lzwEncode(Uint8Array.of(65))]).toEqual([0x80, 0x10, 0x60, 0x20]);
    const random = noise(100_000, 'Byte') as Uint8Array;
    expect(lzwEncode(random).byteLength).toBeLessThanOrEqual(lzwMaxEncodedBytes(random.byteLength));
  });

  it('predictor 2 differences each band within a row, modulo the sample size', () => {
    const pixels = bytesOf(Uint16Array.of(10, 500, 7, 400, 65535, 0, 1, 2));
    const diff = new Uint16Array(horizontalDifferences(pixels, 2, 2, 2, 2).buffer);
    expect([...diff]).toEqual([10, 500, 65533, 65436, 65535, 0, 2, 2]);
  });

  it('DEFLATE levels 1..12 (libdeflate) and predictor 1 are honoured and still decode', () => {
    const samples = smooth16(200, 100);
    for (const deflateLevel of [1, 9, 12]) {
      const bytes = encodeGeoTiff(bytesOf(samples), { width: 200, height: 100, bands: 1, sampleType: 'UInt16', interleave: 'pixel', compression: 'DEFLATE', deflateLevel, predictor: 1 });
      withGdal(bytes, 'tif', (ds) => {
        expect((ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>).PREDICTOR).toBeUndefined();
        expectExact(ds, 200, 100, 1, samples);
      });
    }
  });

  it('rejects a predictor that does not fit the samples and bad levels', () => {
    const opts = { width: 2, height: 2, bands: 1, interleave: 'pixel' as const };
    expect(() => encodeGeoTiff(new Uint8Array(16), { ...opts, sampleType: 'Float32', compression: 'LZW', predictor: 2 })).toThrow(/integer samples/);
    expect(() => encodeGeoTiff(new Uint8Array(4), { ...opts, sampleType: 'Byte', compression: 'DEFLATE', deflateLevel: 0 })).toThrow(/deflate level/);
    expect(() => encodeGeoTiff(new Uint8Array(4), { ...opts, sampleType: 'Byte', compression: 'DEFLATE', deflateLevel: 13 })).toThrow('GTIFF deflate level must be an integer 1..12, got 13');
  });
});

describe('JPEG inside GTIFF and NITF', () => {
  it('GTIFF JPEG splits tall tiles into 16-row-aligned strips, each a JPEG stream', () => {
    const width = 2048;
    const height = 390; // 6144-byte rows: 160-row strips, the last one 70 rows
    const pixels = gradient(width, height, 3);
    const bytes = encodeGeoTiff(pixels, { width, height, bands: 3, sampleType: 'Byte', interleave: 'pixel', compression: 'JPEG', quality: 90 });
    withGdal(bytes, 'tif', (ds) => {
      expect(ds.bands.get(1).blockSize).toEqual({ x: width, y: 160 });
      expect(ds.bands.get(1).colorInterpretation).toBe('Red');
      expectClose(ds, width, height, 3, pixels);
    });
  });

  it('quality drives the size', () => {
    const pixels = noise(256 * 256 * 3, 'Byte') as Uint8Array;
    const size = (quality: number): number =>
      encodeGeoTiff(pixels, { width: 256, height: 256, bands: 3, sampleType: 'Byte', interleave: 'pixel', compression: 'JPEG', quality }).byteLength;
    expect(size(30)).toBeLessThan(size(95));
  });

  it('NITF C3 over 8192 pixels writes one JPEG stream per block', () => {
    const width = 8200;
    const height = 24;
    const pixels = gradient(width, height, 3);
    const bytes = encodeNitf(pixels, { width, height, bands: 3, sampleType: 'Byte', compression: 'JPEG', quality: 90 });
    const soi = Buffer.from(bytes).reduce((count, byte, i, all) => count + (byte === 0xff && all[i + 1] === 0xd8 && all[i + 2] === 0xff ? 1 : 0), 0);
    expect(soi).toBe(2);
    withGdal(bytes, 'ntf', (ds) => {
      expect((ds.getMetadata() as Record<string, string>).NITF_IC).toBe('C3');
      expectClose(ds, width, height, 3, pixels);
    });
  });

  it('NITF C3 writes COMRAT 00.0 and may label 3 bands RGB', () => {
    const pixels = gradient(64, 48, 3);
    const bytes = encodeNitf(pixels, { width: 64, height: 48, bands: 3, sampleType: 'Byte', compression: 'JPEG', irep: 'RGB' });
    expect(Buffer.from(bytes).toString('latin1')).toContain('0C300.03R ');
    withGdal(bytes, 'ntf', (ds) => {
      expect((ds.getMetadata() as Record<string, string>).NITF_IREP).toBe('RGB');
      expect([1, 2, 3].map((b) => ds.bands.get(b).colorInterpretation)).toEqual(['Red', 'Green', 'Blue']);
      expectClose(ds, 64, 48, 3, pixels);
    });
  });

  const notEightBit: Array<EncodeInput['sampleType']> = ['UInt16', 'Int16', 'Float32'];
  it.each((['GTIFF', 'NITF'] as const).flatMap((format) => notEightBit.map((sampleType) => ({ format, sampleType }))))(
    '$format with JPEG refuses $sampleType samples, naming format, compression and type',
    ({ format, sampleType }) => {
      const pixels = new Uint8Array(4 * 4 * (sampleType === 'Float32' ? 4 : 2));
      const input: EncodeInput = { pixels, width: 4, height: 4, channels: 1, sampleType };
      expect(() => encodeTile(input, { format, compression: 'JPEG', quality: 90 })).toThrow(
        new RegExp(`${format} tiles with compression JPEG.*need 8-bit \\(Byte\\) samples, got ${sampleType}`),
      );
    },
  );

  it('refuses band counts JPEG cannot carry', () => {
    const input: EncodeInput = { pixels: new Uint8Array(4 * 4 * 4), width: 4, height: 4, channels: 4, sampleType: 'Byte' };
    expect(() => encodeTile(input, { format: 'GTIFF', compression: 'JPEG', quality: 90 })).toThrow(/GTIFF tiles with compression JPEG need 1 or 3 bands, got 4/);
    expect(() => encodeTile(input, { format: 'NITF', compression: 'JPEG', quality: 90 })).toThrow(/NITF tiles with compression JPEG \(IC=C3\) need 1 or 3 bands, got 4/);
  });
});

/** The image subheader fields from IC on: IC, COMRAT (when IC is not NC), NBANDS. */
function icAndComrat(bytes: Uint8Array): { ic: string; comrat: string } {
  const text = Buffer.from(bytes).toString('latin1');
  // NICOM is 0 in Tessera's tiles, so IC follows it directly after ICORDS/IGEOLO; find the one IC=C8 occurrence.
  const at = text.indexOf('0C8', 404);
  return { ic: text.slice(at + 1, at + 3), comrat: text.slice(at + 3, at + 7) };
}

describe('NITF JPEG 2000 (IC=C8)', () => {
  it.each([1, 3])('8-bit %i band(s): one lossless J2K codestream, COMRAT Nxyz, corners', (bands) => {
    const width = 300;
    const height = 200;
    const pixels = noise(width * height * bands, 'Byte') as Uint8Array; // noise: lossless must still be exact
    const input = tileInput(width, height, bands, pixels, 'Byte');
    const bytes = encodeTile(input, { format: 'NITF', compression: 'J2K', quality: 90 });
    // The image data is a raw codestream: SOC then SIZ right after the subheader.
    const soc = Buffer.from(bytes).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
    expect(soc).toBeGreaterThan(404);
    const dataBytes = bytes.byteLength - soc;
    const { ic, comrat } = icAndComrat(bytes);
    expect(ic).toBe('C8');
    // Numerically lossless: N then xy.z bits per pixel per band; noise costs a little over 8.
    expect(comrat).toBe(`N${String(Math.trunc(((dataBytes * 8) / (width * height * bands)) * 10)).padStart(3, '0')}`);
    withGdal(bytes, 'ntf', (ds) => {
      const metadata = ds.getMetadata() as Record<string, string>;
      expect(metadata.NITF_IC).toBe('C8');
      expect(metadata.NITF_IMODE).toBe('B');
      expect(ds.bands.count()).toBe(bands);
      expect(ds.bands.get(1).dataType).toBe('Byte');
      expect((ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>).COMPRESSION_REVERSIBILITY).toBe('LOSSLESS (possibly)');
      expectExact(ds, width, height, bands, pixels);
      expectCorners(ds, 'NITF', input);
    });
  });

  it('16-bit 1 band with ABPP 12: precision 12 in the codestream, pixel-exact', () => {
    const width = 129;
    const height = 67;
    const samples = Uint16Array.from(noise(width * height, 'UInt16') as Uint16Array, (v) => v >> 4); // 0..4095
    const input = tileInput(width, height, 1, bytesOf(samples), 'UInt16');
    const bytes = encodeNitf(input.pixels, { width, height, bands: 1, sampleType: 'UInt16', abpp: 12, compression: 'J2K', corners: input.corners! });
    withGdal(bytes, 'ntf', (ds) => {
      const metadata = ds.getMetadata() as Record<string, string>;
      expect(metadata.NITF_IC).toBe('C8');
      expect(metadata.NITF_ABPP).toBe('12');
      expect(ds.bands.get(1).dataType).toBe('UInt16');
      expect((ds.bands.get(1).getMetadata('IMAGE_STRUCTURE') as Record<string, string>).NBITS).toBe('12');
      expectExact(ds, width, height, 1, samples);
      expectCorners(ds, 'NITF', input);
    });
  });

  it('signed 16-bit I/Q (SICD-like Int16 pairs) stays exact', () => {
    const samples = noise(40 * 30 * 2, 'Int16') as Int16Array;
    const bytes = encodeNitf(bytesOf(samples), { width: 40, height: 30, bands: 2, sampleType: 'Int16', compression: 'J2K', isubcat: ['I', 'Q'], irep: 'NODISPLY' });
    withGdal(bytes, 'ntf', (ds) => {
      expect(ds.bands.get(1).dataType).toBe('Int16');
      expect((ds.bands.get(2).getMetadata() as Record<string, string>).NITF_ISUBCAT).toBe('Q');
      expectExact(ds, 40, 30, 2, samples);
    });
  });

  it('a compression ratio makes it lossy: 9/7 wavelet, COMRAT wxyz as GDAL 3.6 writes it', () => {
    const width = 256;
    const height = 160;
    const pixels = gradient(width, height, 3);
    const bytes = encodeNitf(pixels, { width, height, bands: 3, sampleType: 'Byte', compression: 'J2K', j2k: { compressionRatio: 10 } });
    const soc = Buffer.from(bytes).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
    const rate = ((bytes.byteLength - soc) * 8) / (width * height * 3);
    expect(rate).toBeLessThan(1); // 10:1 of 8 bits is 0.8 bpp
    expect(icAndComrat(bytes).comrat).toBe(String(Math.trunc(rate * 100)).padStart(4, '0'));
    withGdal(bytes, 'ntf', (ds) => {
      expect((ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>).COMPRESSION_REVERSIBILITY).toBe('LOSSY');
      expectClose(ds, width, height, 3, pixels);
    });
  });

  it('COMRAT follows GDAL: truncated wx.yz clamped to 0.01..99.99; N xy.z when lossless', () => {
    // GDAL 3.6 on a 300x200x3 tile: 18005 bytes -> 0.8002 bpp -> "0080"; 44883 -> 1.9948 -> "0199" (truncated).
    expect(j2kComrat(18005, 180000, false)).toBe('0080');
    expect(j2kComrat(44883, 180000, false)).toBe('0199');
    expect(j2kComrat(1, 1e9, false)).toBe('0001');
    expect(j2kComrat(1e9, 1, false)).toBe('9999');
    expect(j2kComrat(52500, 180000, true)).toBe('N023');
  });

  it('a side over 8192 pixels is one block written as NPPBH 0000', () => {
    const width = 8200;
    const height = 24;
    const pixels = gradient(width, height, 1);
    const bytes = encodeNitf(pixels, { width, height, bands: 1, sampleType: 'Byte', compression: 'J2K' });
    // IMODE B, NBPR 0001, NBPC 0001, NPPBH 0000, NPPBV 0024, NBPP 08
    expect(Buffer.from(bytes).toString('latin1')).toContain('B00010001000000240');
    withGdal(bytes, 'ntf', (ds) => {
      expect(ds.rasterSize).toEqual({ x: width, y: height });
      expectExact(ds, width, height, 1, pixels);
    });
  });

  it('refuses samples outside ABPP and 32-bit integers', () => {
    const over = bytesOf(Uint16Array.of(1, 4096, 3, 4));
    expect(() => encodeNitf(over, { width: 2, height: 2, bands: 1, sampleType: 'UInt16', abpp: 12, compression: 'J2K' })).toThrow(
      'encodeJ2k: pixels holds the sample 4096, outside the 12-bit unsigned range 0..4095 given by options.precision',
    );
    expect(() => encodeNitf(new Uint8Array(16), { width: 2, height: 2, bands: 1, sampleType: 'Int32', compression: 'J2K' })).toThrow(
      /NITF compression J2K \(IC=C8, JPEG 2000\) is built for 8- and 16-bit integer samples, got Int32/,
    );
  });
});

describe('combinations that are not built', () => {
  it.each(UNSUPPORTED)('%s with %s fails up front, naming both', (format, compression) => {
    const encoding = { format, compression, quality: 90 };
    expect(() => checkTileEncoding(encoding, 'Byte')).toThrow(`tile format ${format} with compression ${compression} is not supported`);
  });

  it('lists exactly the combinations outside the supported table', () => {
    expect(UNSUPPORTED.map(([f, c]) => `${f}/${c}`)).toEqual([
      'NITF/LZW', 'NITF/DEFLATE',
      'JPEG/J2K', 'JPEG/LZW', 'JPEG/DEFLATE',
      'PNG/JPEG', 'PNG/J2K', 'PNG/LZW',
      'GTIFF/J2K',
    ]);
  });

  it('the container encoders refuse them too, naming the compression', () => {
    const opts = { width: 2, height: 2, bands: 1, sampleType: 'Byte' as const };
    expect(() => encodeGeoTiff(new Uint8Array(4), { ...opts, interleave: 'pixel', compression: 'J2K' })).toThrow('GTIFF compression J2K is not supported yet');
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, compression: 'LZW' })).toThrow(/NITF compression LZW is not supported/);
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, compression: 'DEFLATE' })).toThrow(/NITF compression DEFLATE is not supported/);
  });

  it('NITF J2K falls back to IC=NC for floating-point samples, as OSML does', () => {
    const samples = noise(6 * 5, 'Float32');
    const bytes = encodeNitf(bytesOf(samples), { width: 6, height: 5, bands: 1, sampleType: 'Float32', compression: 'J2K' });
    withGdal(bytes, 'ntf', (ds) => {
      expect((ds.getMetadata() as Record<string, string>).NITF_IC).toBe('NC');
      expectExact(ds, 6, 5, 1, samples);
    });
  });
});
