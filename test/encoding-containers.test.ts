// The TypeScript GeoTIFF and NITF tile writers, judged by GDAL (gdal-async on the main thread): every file must open
// with the right driver, shape, type, pixels and georeferencing, without GDAL raising a warning.
import { describe, expect, it } from 'vitest';
import gdal from 'gdal-async';
import { encodeGeoTiff, type SampleType } from '../src/encoding/gtiff.js';
import { complexityLevel, encodeNitf, formatIgeoloGeographic, type LonLat } from '../src/encoding/nitf.js';
import { geoTransformCorners, readWktFacts, summarizeCrs, tileGeoTransform } from '../src/encoding/tile-georef.js';
import { PayloadTooLargeError, checkPayload, type TileCompression, type TileFormat } from '../src/encoding/tile-encoding.js';
import { HALF_ARC_SECOND, gdalNitfCorners, readGcps, withGdal } from './helpers/gdal-vsimem.js';

type TypedSamples = Uint8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

interface Shape {
  width: number;
  height: number;
  bands: number;
  sampleType: SampleType;
}

const SHAPES: Shape[] = [
  { width: 512, height: 512, bands: 1, sampleType: 'Byte' },
  { width: 300, height: 200, bands: 3, sampleType: 'Byte' },
  { width: 64, height: 48, bands: 1, sampleType: 'UInt16' },
  { width: 10, height: 7, bands: 4, sampleType: 'Byte' },
  { width: 33, height: 17, bands: 2, sampleType: 'Int16' },
  { width: 21, height: 13, bands: 1, sampleType: 'UInt32' },
  { width: 21, height: 13, bands: 3, sampleType: 'Int32' },
  { width: 19, height: 11, bands: 2, sampleType: 'Float32' },
  { width: 19, height: 11, bands: 1, sampleType: 'Float64' },
];

const shapeName = (s: Shape): string => `${s.bands}-band ${s.sampleType} ${s.width}x${s.height}`;

/** Deterministic samples spanning the type's range (negative values for signed types, fractions for floats). */
function makeSamples(shape: Shape): TypedSamples {
  const count = shape.width * shape.height * shape.bands;
  let state = 0x9e3779b9 ^ count;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  switch (shape.sampleType) {
    case 'Byte': return Uint8Array.from({ length: count }, () => next() >>> 24);
    case 'UInt16': return Uint16Array.from({ length: count }, () => next() >>> 16);
    case 'Int16': return Int16Array.from({ length: count }, () => (next() >>> 16) - 32768);
    case 'UInt32': return Uint32Array.from({ length: count }, () => next());
    case 'Int32': return Int32Array.from({ length: count }, () => next() | 0);
    case 'Float32': return Float32Array.from({ length: count }, () => ((next() >>> 8) - 2 ** 23) / 64);
    case 'Float64': return Float64Array.from({ length: count }, () => (next() - 2 ** 31) / 1024 + 1e-9);
  }
}

const bytesOf = (samples: TypedSamples): Uint8Array => new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);


/** Every pixel of every band equals the de-interleaved input. */
function expectPixels(ds: gdal.Dataset, shape: Shape, samples: TypedSamples): void {
  const { width, height, bands } = shape;
  for (let band = 0; band < bands; band++) {
    const actual = ds.bands.get(band + 1).pixels.read(0, 0, width, height);
    expect(actual.length).toBe(width * height);
    let mismatches = 0;
    let firstMismatch = '';
    for (let i = 0; i < width * height; i++) {
      const expected = samples[i * bands + band];
      if (!Object.is(actual[i], expected)) {
        if (mismatches === 0) firstMismatch = `band ${band + 1} pixel ${i}: got ${actual[i]}, expected ${expected}`;
        mismatches++;
      }
    }
    expect(firstMismatch).toBe('');
    expect(mismatches).toBe(0);
  }
}

function expectShape(ds: gdal.Dataset, driver: string, shape: Shape): void {
  expect(ds.driver.description).toBe(driver);
  expect(ds.rasterSize).toEqual({ x: shape.width, y: shape.height });
  expect(ds.bands.count()).toBe(shape.bands);
  for (let band = 1; band <= shape.bands; band++) expect(ds.bands.get(band).dataType).toBe(shape.sampleType);
}


describe('encodeGeoTiff', () => {
  it.each(SHAPES)('$width x $height, $bands band(s) of $sampleType round-trip through GDAL', (shape) => {
    const samples = makeSamples(shape);
    const geoTransform = [85 + shape.width * 1e-4, 1e-4, 0, 33, 0, -1e-4];
    const bytes = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel', georef: { geoTransform, epsg: 4326 } });
    withGdal(bytes, 'tif', (ds) => {
      expectShape(ds, 'GTiff', shape);
      expectPixels(ds, shape, samples);
      expect(ds.geoTransform).toEqual(geoTransform);
      expect(ds.srs?.getAuthorityCode(null)).toBe('4326');
      expect(ds.getMetadata().AREA_OR_POINT).toBe('Area');
      const interp = [...Array(shape.bands).keys()].map((i) => ds.bands.get(i + 1).colorInterpretation);
      if (shape.bands === 3) expect(interp).toEqual(['Red', 'Green', 'Blue']);
      else expect(interp[0]).toBe('Gray');
    });
  });

  it('writes a UTM code and a rotated transform as ModelTransformation', () => {
    const shape: Shape = { width: 64, height: 48, bands: 1, sampleType: 'UInt16' };
    const samples = makeSamples(shape);
    const geoTransform = [500000, 0.5, 0.1, 4000000, 0.1, -0.5];
    const bytes = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel', georef: { geoTransform, epsg: 32633 } });
    withGdal(bytes, 'tif', (ds) => {
      expectPixels(ds, shape, samples);
      expect(ds.geoTransform).toEqual(geoTransform);
      expect(ds.srs?.getAuthorityCode(null)).toBe('32633');
      expect(ds.srs?.isProjected()).toBe(true);
    });
  });

  it('writes a north-up UTM tile and finds the EPSG code in a WKT', () => {
    const shape: Shape = { width: 40, height: 30, bands: 3, sampleType: 'Byte' };
    const samples = makeSamples(shape);
    const wkt = gdal.SpatialReference.fromEPSG(32618).toWKT();
    const geoTransform = tileGeoTransform([300000, 0.3, 0, 4500000, 0, -0.3], 1024, 2048);
    const bytes = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel', georef: { geoTransform: [...geoTransform], wkt } });
    withGdal(bytes, 'tif', (ds) => {
      expect(ds.geoTransform).toEqual([300000 + 1024 * 0.3, 0.3, 0, 4500000 - 2048 * 0.3, 0, -0.3]);
      expect(ds.srs?.getAuthorityCode(null)).toBe('32618');
    });
  });

  it('keeps the transform but no CRS when no EPSG code is known', () => {
    const shape: Shape = { width: 10, height: 7, bands: 4, sampleType: 'Byte' };
    const samples = makeSamples(shape);
    const geoTransform = [1000, 2, 0, 5000, 0, -2];
    const bytes = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel', georef: { geoTransform } });
    withGdal(bytes, 'tif', (ds) => {
      expectPixels(ds, shape, samples);
      expect(ds.geoTransform).toEqual(geoTransform);
      expect(ds.srs).toBeNull();
    });
  });

  it('writes GCPs as tiepoints and nothing geo without georef', () => {
    const shape: Shape = { width: 20, height: 10, bands: 1, sampleType: 'Byte' };
    const samples = makeSamples(shape);
    const gcps = [
      { pixel: 0, line: 0, x: 85, y: 33 },
      { pixel: 20, line: 0, x: 85.01, y: 33.001 },
      { pixel: 20, line: 10, x: 85.011, y: 32.99 },
      { pixel: 0, line: 10, x: 85.001, y: 32.989 },
    ];
    const withGcps = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel', gcps, georef: { epsg: 4326 } });
    withGdal(withGcps, 'tif', (ds) => {
      expect(readGcps(ds)).toEqual(gcps);
    });
    const plain = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel' });
    withGdal(plain, 'tif', (ds) => {
      expectPixels(ds, shape, samples);
      expect(ds.srs).toBeNull();
      expect(ds.geoTransform).toBeNull();
    });
  });

  it('splits big tiles into a few strips', () => {
    const shape: Shape = { width: 1024, height: 700, bands: 3, sampleType: 'UInt16' };
    const samples = makeSamples(shape);
    const bytes = encodeGeoTiff(bytesOf(samples), { ...shape, interleave: 'pixel' });
    withGdal(bytes, 'tif', (ds) => expectPixels(ds, shape, samples));
  });

  it('rejects compressions it does not build yet and mis-sized buffers', () => {
    // LZW, DEFLATE and JPEG are covered by encoding-compression.test.ts.
    const opts = { width: 2, height: 2, bands: 1, sampleType: 'Byte' as const, interleave: 'pixel' as const };
    expect(() => encodeGeoTiff(new Uint8Array(4), { ...opts, compression: 'J2K' })).toThrow('GTIFF compression J2K is not supported yet');
    expect(() => encodeGeoTiff(new Uint8Array(5), opts)).toThrow(/expected 4/);
  });
});


describe('encodeNitf', () => {
  it.each(SHAPES)('$width x $height, $bands band(s) of $sampleType round-trip through GDAL', (shape) => {
    const samples = makeSamples(shape);
    const corners: [LonLat, LonLat, LonLat, LonLat] = [
      [85.000123, 32.991111],
      [85.000123 + shape.width * 1e-4, 32.991111],
      [85.000123 + shape.width * 1e-4, 32.991111 - shape.height * 1e-4],
      [85.000123, 32.991111 - shape.height * 1e-4],
    ];
    const bytes = encodeNitf(bytesOf(samples), {
      ...shape,
      corners,
      icat: 'MS',
      ftitle: `tile ${shapeName(shape)}`,
      idatim: '20240229235958',
    });
    withGdal(bytes, 'ntf', (ds) => {
      expectShape(ds, 'NITF', shape);
      expectPixels(ds, shape, samples);
      const metadata = ds.getMetadata() as Record<string, string>;
      expect(metadata.NITF_ICAT).toBe('MS');
      expect(metadata.NITF_FTITLE).toBe(`tile ${shapeName(shape)}`);
      expect(metadata.NITF_IDATIM).toBe('20240229235958');
      expect(metadata.NITF_IC).toBe('NC');
      expect(metadata.NITF_IMODE).toBe(shape.bands === 1 ? 'B' : 'P');
      expect(metadata.NITF_ICORDS).toBe('G');
      expect(metadata.NITF_CLEVEL).toBe('03');
      expect(metadata.NITF_PVTYPE).toBe(shape.sampleType.startsWith('Float') ? 'R' : shape.sampleType.startsWith('Int') ? 'SI' : 'INT');
      expect(metadata.NITF_IREP).toBe(shape.bands === 1 ? 'MONO' : shape.bands === 3 && shape.sampleType === 'Byte' ? 'RGB' : 'MULTI');
      expect(ds.srs?.getAuthorityCode(null)).toBe('4326');
      const read = gdalNitfCorners(ds);
      read.forEach(([lon, lat], i) => {
        expect(Math.abs(lon - corners[i][0])).toBeLessThanOrEqual(HALF_ARC_SECOND);
        expect(Math.abs(lat - corners[i][1])).toBeLessThanOrEqual(HALF_ARC_SECOND);
      });
      if (shape.bands === 3 && shape.sampleType === 'Byte') {
        const interp = [1, 2, 3].map((b) => ds.bands.get(b).colorInterpretation);
        expect(interp).toEqual(['Red', 'Green', 'Blue']);
      }
    });
  });

  it('gives back rotated, southern/western corners (as GCPs when the rounded quad is not affine)', () => {
    const shape: Shape = { width: 300, height: 200, bands: 3, sampleType: 'Byte' };
    const samples = makeSamples(shape);
    const corners = geoTransformCorners([-70.25, 2e-5, 1e-5, -33.5, 1e-5, -2e-5], shape.width, shape.height) as [LonLat, LonLat, LonLat, LonLat];
    const bytes = encodeNitf(bytesOf(samples), { ...shape, corners });
    withGdal(bytes, 'ntf', (ds) => {
      expectPixels(ds, shape, samples);
      expect((ds.getMetadata() as Record<string, string>).NITF_IGEOLO).toBe(formatIgeoloGeographic(corners));
      gdalNitfCorners(ds).forEach(([lon, lat], i) => {
        expect(Math.abs(lon - corners[i][0])).toBeLessThanOrEqual(HALF_ARC_SECOND);
        expect(Math.abs(lat - corners[i][1])).toBeLessThanOrEqual(HALF_ARC_SECOND);
      });
    });
  });

  it('writes no IGEOLO without corners, and the header fields GDAL reads back', () => {
    const shape: Shape = { width: 64, height: 48, bands: 1, sampleType: 'UInt16' };
    const samples = makeSamples(shape);
    const bytes = encodeNitf(bytesOf(samples), { ...shape, abpp: 11, fdt: '20250101120000' });
    const header = Buffer.from(bytes.subarray(0, 404)).toString('latin1');
    expect(header.slice(0, 9)).toBe('NITF02.10');
    expect(header.slice(342, 354)).toBe(String(bytes.length).padStart(12, '0')); // FL
    expect(header.slice(354, 360)).toBe('000404'); // HL
    withGdal(bytes, 'ntf', (ds) => {
      expectPixels(ds, shape, samples);
      const metadata = ds.getMetadata() as Record<string, string>;
      expect(metadata.NITF_ICORDS).toBe('');
      expect(metadata.NITF_IGEOLO).toBeUndefined();
      expect(metadata.NITF_ABPP).toBe('11');
      expect(metadata.NITF_ICAT).toBe('VIS');
      expect(metadata.NITF_FDT).toBe('20250101120000');
      expect(metadata.NITF_IDATIM).toBe('20250101120000');
      expect(metadata.NITF_FSCLAS).toBe('U');
      expect(metadata.NITF_ISCLAS).toBe('U');
      expect(ds.srs).toBeNull();
      expect(ds.getGCPs()).toEqual([]);
    });
  });

  it('splits sides over 8192 pixels into equal blocks and pads the edge blocks', () => {
    const shape: Shape = { width: 8200, height: 3, bands: 2, sampleType: 'UInt16' };
    const samples = makeSamples(shape);
    const bytes = encodeNitf(bytesOf(samples), { ...shape });
    const subheader = Buffer.from(bytes.subarray(404, 404 + 600)).toString('latin1');
    // NBPR NBPC NPPBH NPPBV right after IMODE, for 2 blocks of 4100 columns.
    expect(subheader).toContain('P0002000141000003');
    withGdal(bytes, 'ntf', (ds) => {
      expectPixels(ds, shape, samples);
      expect((ds.getMetadata() as Record<string, string>).NITF_CLEVEL).toBe('06');
    });
  });

  it('writes more than 9 bands with XBANDS', () => {
    const shape: Shape = { width: 5, height: 4, bands: 12, sampleType: 'Byte' };
    const samples = makeSamples(shape);
    withGdal(encodeNitf(bytesOf(samples), { ...shape }), 'ntf', (ds) => {
      expectShape(ds, 'NITF', shape);
      expectPixels(ds, shape, samples);
      expect((ds.getMetadata() as Record<string, string>).NITF_CLEVEL).toBe('05');
    });
  });

  it('byte-swaps unaligned input buffers and odd sample counts', () => {
    for (const sampleType of ['UInt16', 'Float32', 'Float64'] as const) {
      const shape: Shape = { width: 21, height: 13, bands: 1, sampleType };
      const samples = makeSamples(shape);
      const unaligned = new Uint8Array(samples.byteLength + 1).subarray(1);
      unaligned.set(bytesOf(samples));
      withGdal(encodeNitf(unaligned, { ...shape }), 'ntf', (ds) => expectPixels(ds, shape, samples));
      withGdal(encodeGeoTiff(unaligned, { ...shape, interleave: 'pixel' }), 'tif', (ds) => expectPixels(ds, shape, samples));
    }
  });

  it('rejects what it cannot write', () => {
    const opts = { width: 2, height: 2, bands: 1, sampleType: 'Byte' as const };
    // JPEG (IC=C3) and JPEG 2000 (IC=C8) are covered by encoding-compression.test.ts.
    expect(() => encodeNitf(new Uint8Array(16), { ...opts, sampleType: 'UInt32', compression: 'J2K' })).toThrow(/NITF compression J2K \(IC=C8, JPEG 2000\) is built for 8- and 16-bit integer samples, got UInt32/);
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, compression: 'LZW' })).toThrow('NITF compression LZW is not supported');
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, ftitle: 'x'.repeat(81) })).toThrow(/FTITLE/);
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, idatim: '2024-01-01' })).toThrow(/IDATIM/);
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, irep: 'RGB' })).toThrow(/RGB needs 3 bands/);
    expect(() => encodeNitf(new Uint8Array(4), { ...opts, abpp: 9 })).toThrow(/ABPP/);
  });
});

describe('IGEOLO geographic corners', () => {
  const square = (lon: number, lat: number): LonLat[] => [[lon, lat], [lon, lat], [lon, lat], [lon, lat]];

  it('formats ddmmssXdddmmssY per corner, 60 characters', () => {
    const igeolo = formatIgeoloGeographic([[85, 33], [85.03, 33], [85.03, 32.98], [85, 32.98]]);
    expect(igeolo).toBe('330000N0850000E330000N0850148E325848N0850148E325848N0850000E');
    expect(igeolo).toHaveLength(60);
  });

  it('rounds to the nearest second and carries into minutes and degrees', () => {
    // 59.6″ → next minute; 59′59.6″ → next degree; 0.4″ south → rounds to zero, printed north.
    expect(formatIgeoloGeographic(square(10 + 59.6 / 3600, 1 + 59 / 60 + 59.6 / 3600)).slice(0, 15)).toBe('020000N0100100E');
    expect(formatIgeoloGeographic(square(-(179 + 59 / 60 + 59.7 / 3600), -(45 + 30 / 60 + 0.4 / 3600))).slice(0, 15)).toBe('453000S1800000W');
    expect(formatIgeoloGeographic(square(-0.4 / 3600, -0.4 / 3600)).slice(0, 15)).toBe('000000N0000000E');
    expect(formatIgeoloGeographic(square(-122.4194, 37.7749)).slice(0, 15)).toBe('374630N1222510W');
  });

  it('reproduces the toolkit truncation in osml mode', () => {
    // 37.7749° = 37°46′29.64″: the toolkit truncates the seconds.
    expect(formatIgeoloGeographic(square(-122.4194, 37.7749), 'osml').slice(0, 15)).toBe('374629N1222509W');
    expect(formatIgeoloGeographic(square(85 + 59.6 / 3600, 33), 'osml').slice(0, 15)).toBe('330000N0850059E');
  });

  it('wraps longitudes beyond ±180 and rejects impossible latitudes', () => {
    expect(formatIgeoloGeographic(square(190, 0)).slice(7, 15)).toBe('1700000W');
    expect(() => formatIgeoloGeographic(square(0, 91))).toThrow(/invalid IGEOLO/);
  });
});

describe('the GDAL warning check used above', () => {
  it('does catch a warning GDAL raises while opening', () => {
    // EPSG:12345 does not exist: GDAL warns that the GeoTIFF keys and the registry disagree.
    const bytes = encodeGeoTiff(new Uint8Array(4), {
      width: 2, height: 2, bands: 1, sampleType: 'Byte', interleave: 'pixel',
      georef: { geoTransform: [0, 1, 0, 0, 0, -1], epsg: 12345, geographic: false },
    });
    expect(() => withGdal(bytes, 'tif', (ds) => void ds.srs)).toThrow(/expected .* to be null/);
  });
});

describe('NITF complexity level and CRS helpers', () => {
  it('picks CLEVEL from size, file length and bands', () => {
    expect(complexityLevel(2048, 2048, 3, 12_600_000)).toBe(3);
    expect(complexityLevel(2049, 10, 1, 30_000)).toBe(5);
    expect(complexityLevel(4096, 4096, 3, 60 * 2 ** 20)).toBe(5);
    expect(complexityLevel(8193, 10, 1, 90_000)).toBe(6);
    expect(complexityLevel(100, 100, 10, 100_000)).toBe(5);
    expect(complexityLevel(70_000, 10, 1, 700_000)).toBe(7);
  });

  it('reads the root EPSG code and kind of WKT1 and WKT2 strings', () => {
    const wgs84 = gdal.SpatialReference.fromEPSG(4326);
    const utm = gdal.SpatialReference.fromEPSG(32633);
    expect(readWktFacts(wgs84.toWKT())).toEqual({ epsg: 4326, geographic: true });
    expect(readWktFacts(utm.toWKT())).toEqual({ epsg: 32633, geographic: false });
    expect(readWktFacts(utm.toPrettyWKT())).toEqual({ epsg: 32633, geographic: false });
    expect(summarizeCrs({ epsg: 4269 })).toEqual({ epsg: 4269, geographic: true });
    expect(summarizeCrs({ epsg: 4087 })).toEqual({ epsg: 4087, geographic: false });
    expect(summarizeCrs({ epsg: 6318, geographic: true })).toEqual({ epsg: 6318, geographic: true });
    expect(summarizeCrs({})).toBeUndefined();
  });
});

describe('payload limit hints name only options that exist for the tile format', () => {
  // 2 MB over a 1 MB limit for 512² pixels: sqrt(262144 × 0.5) = 362.04 -> "about 362"
  const hintsFor = (format: TileFormat, compression: TileCompression, sampleType: 'Byte' | 'UInt16'): string => {
    try {
      checkPayload(2 * 2 ** 20, { format, compression, quality: 90, maxPayloadBytes: 2 ** 20 }, '(0, 0)(512, 512)', 512 * 512, sampleType);
    } catch (err) {
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      const m = /would fit: (.*) \(or raise --max-payload-mb\)$/.exec((err as Error).message);
      expect(m, (err as Error).message).not.toBeNull();
      return m![1];
    }
    throw new Error('no payload error');
  };
  const size = 'a tile size of about 362 or less';

  it('PNG (always deflated, no other compression): JPEG tiles only, never JPEG compression', () => {
    expect(hintsFor('PNG', 'NONE', 'Byte')).toBe(`${size}, JPEG tiles (--tile-format JPEG)`);
    expect(hintsFor('PNG', 'DEFLATE', 'UInt16')).toBe(`${size}, JPEG tiles (--tile-format JPEG)`);
  });

  it('JPEG tiles and JPEG-compressed containers: a lower quality', () => {
    expect(hintsFor('JPEG', 'NONE', 'Byte')).toBe(`${size}, a lower --quality (now 90)`);
    expect(hintsFor('NITF', 'JPEG', 'Byte')).toBe(`${size}, a lower --quality (now 90)`);
    expect(hintsFor('GTIFF', 'JPEG', 'Byte')).toBe(`${size}, a lower --quality (now 90)`);
  });

  it("NITF and GeoTIFF: the format's other compressions, JPEG only for 8-bit samples", () => {
    expect(hintsFor('NITF', 'NONE', 'Byte')).toBe(`${size}, JPEG tiles (--tile-format JPEG), --compression JPEG or J2K`);
    expect(hintsFor('NITF', 'NONE', 'UInt16')).toBe(`${size}, JPEG tiles (--tile-format JPEG), --compression J2K`);
    expect(hintsFor('NITF', 'J2K', 'UInt16')).toBe(`${size}, JPEG tiles (--tile-format JPEG)`);
    expect(hintsFor('GTIFF', 'NONE', 'Byte')).toBe(`${size}, JPEG tiles (--tile-format JPEG), --compression LZW or DEFLATE or JPEG`);
    expect(hintsFor('GTIFF', 'DEFLATE', 'UInt16')).toBe(`${size}, JPEG tiles (--tile-format JPEG), --compression LZW`);
  });

  it('a tile within the limit, or no limit, passes', () => {
    expect(() => checkPayload(2 ** 20, { format: 'PNG', compression: 'NONE', quality: 90, maxPayloadBytes: 2 ** 20 }, 't', 1, 'Byte')).not.toThrow();
    expect(() => checkPayload(2 ** 30, { format: 'PNG', compression: 'NONE', quality: 90, maxPayloadBytes: 0 }, 't', 1, 'Byte')).not.toThrow();
  });
});
