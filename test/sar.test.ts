// Complex SAR (SICD) input: I/Q band pairs become the amplitude sqrt(I² + Q²) with a DRA stretch for tile formats that
// cannot carry complex samples (PNG, JPEG), and stay I/Q for NITF/GTIFF tiles. Expected pixels are computed here from
// I and Q read with GDAL and from the definitions (range-adjustment.ts: DRA clips at 2 %/98 % of the cumulative
// histogram, widened by 0.2 below and 0.4 above of the inner range, clamped to min..max; real-valued samples are
// counted in 4096 buckets between their minimum and maximum; out = round((v - min) * 255 / (max - min)) clamped) —
// never with Tessera's own statistics or stretch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gdal from 'gdal-async';
import { prepareImage, runImage, type ImageJob } from '../src/pipeline/run-image.js';
import { complexBandPairs } from '../src/raster/band-statistics.js';
import { describeRaster } from '../src/raster/raster-source.js';
import { convertTile } from '../src/pixels/native.js';
import { encodeTile, type TileFormat } from '../src/encoding/tile-encoding.js';
import { realFixture } from './helpers/cli.js';
import { startRecordingModel, type RecordingModel } from './helpers/recording-model.js';

const SICD = ['sar_sicd.ntf', 'cropped_sicd_120.nitf'] as const;

interface Expected {
  width: number;
  height: number;
  dataType: string;
  amplitude: number[];
  dra: [number, number];
  /** The 8-bit tile, row-major. */
  pixels: number[];
}

/** Amplitudes from GDAL's I and Q, the DRA range by the definition, and the 8-bit stretch. */
function expectedFor(name: string): Expected {
  const ds = gdal.open(realFixture(name));
  const { x: width, y: height } = ds.rasterSize;
  const i = Array.from(ds.bands.get(1).pixels.read(0, 0, width, height));
  const q = Array.from(ds.bands.get(2).pixels.read(0, 0, width, height));
  const dataType = ds.bands.get(1).dataType ?? '';
  ds.close();
  const amplitude = i.map((v, j) => Math.sqrt(v * v + q[j] * q[j]));

  // Histogram: 4096 buckets from the minimum to the maximum; bucket b starts at min + b * step.
  const min = Math.min(...amplitude);
  const max = Math.max(...amplitude);
  const step = (max - min) / 4095 || 1;
  const counts = new Array<number>(4096).fill(0);
  for (const a of amplitude) counts[Math.min(4095, Math.floor((a - min) / step))]++;
  const occupied = counts.flatMap((c, b) => (c > 0 ? [b] : []));
  const actualMin = min + occupied[0] * step;
  const actualMax = min + occupied[occupied.length - 1] * step;
  // The clip points: the first bucket whose cumulative count reaches 2 % (98 %) of all samples.
  const clip = (p: number) => {
    let cumulative = 0;
    for (let b = 0; b < 4096; b++) {
      cumulative += counts[b];
      if (cumulative >= amplitude.length * p) return min + b * step;
    }
    return min + 4095 * step;
  };
  const low = clip(0.02);
  const high = clip(0.98);
  const inner = high - low;
  const dra: [number, number] = [Math.max(actualMin, low - 0.2 * inner), Math.min(actualMax, high + 0.4 * inner)];
  const pixels = amplitude.map((a) => Math.floor(Math.min(255, Math.max(0, ((a - dra[0]) * 255) / (dra[1] - dra[0]))) + 0.5));
  return { width, height, dataType, amplitude, dra, pixels };
}

const job = (name: string, format: TileFormat, extra: Partial<ImageJob> = {}): ImageJob => ({
  jobId: 'sar',
  image: realFixture(name),
  detector: { kind: 'http', url: 'http://127.0.0.1:9/invocations', timeoutMs: 5000, maxRetries: 0 },
  tileSize: 512,
  overlap: 128,
  regionSize: 10240,
  strategy: 'variable-overlap',
  encoding: { format, compression: 'NONE', quality: 95 },
  distillation: { algorithm: 'NONE' },
  featureProperties: [],
  ...extra,
});

let fileCounter = 0;
/** Decodes an encoded tile with GDAL: size, band count, type and the first band's samples. */
function decode(bytes: Uint8Array, extension: string) {
  const path = `/vsimem/sar-test-${process.pid}-${fileCounter++}.${extension}`;
  gdal.vsimem.set(Buffer.from(bytes), path);
  try {
    const ds = gdal.open(path);
    const { x: width, y: height } = ds.rasterSize;
    const result = {
      driver: ds.driver.description,
      width,
      height,
      bands: ds.bands.count(),
      type: ds.bands.get(1).dataType,
      pixels: Array.from(ds.bands.get(1).pixels.read(0, 0, width, height)),
    };
    ds.close();
    return result;
  } finally {
    gdal.vsimem.release(path);
  }
}

/** The window's planes, band-sequential, as the engine's reader puts them in a slot. */
function readPlanes(name: string): Uint8Array {
  const ds = gdal.open(realFixture(name));
  const { x: width, y: height } = ds.rasterSize;
  const planes = [1, 2].map((b) => ds.bands.get(b).pixels.read(0, 0, width, height));
  ds.close();
  const bytes = planes.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  const out = new Uint8Array(bytes[0].byteLength * 2);
  out.set(bytes[0], 0);
  out.set(bytes[1], bytes[0].byteLength);
  return out;
}

describe.each(SICD)('%s', (name) => {
  const expected = expectedFor(name);

  it('is recognised as I/Q pairs (NITF_ISUBCAT I, Q)', async () => {
    expect(await complexBandPairs(await describeRaster(realFixture(name)))).toEqual([0]);
  });

  it.each(['PNG', 'JPEG'] as const)('into %s tiles: amplitude with the DRA range of the amplitude histogram', async (format) => {
    const prepared = await prepareImage(job(name, format));
    expect(prepared.rangeAdjustment).toBe('DRA');
    expect(prepared.conversion).toMatchObject({ bandCount: 2, dataType: expected.dataType, bands: [0], outputType: 'Byte', complex: 'amplitude' });
    const [[lo, hi]] = prepared.conversion.ranges!;
    expect(lo).toBeCloseTo(expected.dra[0], 6);
    expect(hi).toBeCloseTo(expected.dra[1], 6);
    expect(prepared.warnings.join('\n')).toContain('each tile band is the amplitude sqrt(I² + Q²) stretched with DRA to 8 bits');
  });

  it('a PNG tile (converted and encoded as the worker does) decodes to the expected 8-bit amplitudes', async () => {
    const { conversion } = await prepareImage(job(name, 'PNG'));
    const pixels = convertTile(readPlanes(name), { width: expected.width, height: expected.height, ...conversion });
    const png = encodeTile({ pixels, width: expected.width, height: expected.height, channels: 1, sampleType: 'Byte' }, { format: 'PNG', compression: 'NONE', quality: 90 });
    const tile = decode(png, 'png');
    expect([tile.driver, tile.width, tile.height, tile.bands, tile.type]).toEqual(['PNG', expected.width, expected.height, 1, 'Byte']);
    expect(tile.pixels).toEqual(expected.pixels);
  });

  it('MINMAX for PNG, asked for explicitly, keeps 16 bits', async () => {
    const { conversion } = await prepareImage(job(name, 'PNG', { rangeAdjustment: 'MINMAX' }));
    expect(conversion.outputType).toBe('UInt16');
    const [[lo, hi]] = conversion.ranges!;
    expect(lo).toBeCloseTo(Math.min(...expected.amplitude), 6);
    expect(hi).toBeCloseTo(Math.max(...expected.amplitude), 6);
  });

  it.each(['NITF', 'GTIFF'] as const)('%s tiles keep the I/Q planes unchanged', async (format) => {
    const prepared = await prepareImage(job(name, format));
    expect(prepared.conversion).toEqual({ bandCount: 2, dataType: expected.dataType, bands: [0, 1], outputType: 'same' });
    expect(prepared.warnings.join('\n')).not.toContain('amplitude');
  });

  it('bands are numbered by I/Q pair', async () => {
    await expect(prepareImage(job(name, 'PNG', { bands: [2] }))).rejects.toThrow(/bands\[0\] = 2 is not a band of this image.*numbered by I\/Q pair/);
  });
});

it('a real-valued NITF is not taken for I/Q', async () => {
  expect(await complexBandPairs(await describeRaster(realFixture('i_3001a.ntf')))).toBeNull();
  expect(await complexBandPairs(await describeRaster(realFixture('cropped_sidd.nitf')))).toBeNull();
});

describe('end to end through the tile workers', () => {
  let model: RecordingModel;
  let url: string;
  let bodies: Buffer[];
  beforeAll(async () => {
    model = await startRecordingModel();
    ({ url, bodies } = model);
  });
  afterAll(() => model?.close());

  it.each(SICD)('%s to PNG: one 1-band 8-bit tile equal to the amplitude stretch', async (name) => {
    const expected = expectedFor(name);
    bodies.length = 0;
    const result = await runImage({ ...job(name, 'PNG'), detector: { kind: 'http', url, timeoutMs: 5000, maxRetries: 0 }, workers: 1 });
    expect(result.failures).toEqual([]);
    expect(result.tiles.total).toBe(1);
    expect(result.warnings.join('\n')).toContain('amplitude sqrt(I² + Q²) stretched with DRA to 8 bits');
    expect(bodies).toHaveLength(1);
    const tile = decode(bodies[0], 'png');
    expect([tile.driver, tile.width, tile.height, tile.bands, tile.type]).toEqual(['PNG', expected.width, expected.height, 1, 'Byte']);
    expect(tile.pixels).toEqual(expected.pixels);
  });

  it('sar_sicd.ntf to NITF: the I/Q Float32 planes arrive unchanged', async () => {
    bodies.length = 0;
    const result = await runImage({ ...job('sar_sicd.ntf', 'NITF'), detector: { kind: 'http', url, timeoutMs: 5000, maxRetries: 0 }, workers: 1 });
    expect(result.failures).toEqual([]);
    const path = `/vsimem/sar-test-${process.pid}-iq.ntf`;
    gdal.vsimem.set(bodies[0], path);
    try {
      const tile = gdal.open(path);
      const source = gdal.open(realFixture('sar_sicd.ntf'));
      expect(tile.bands.count()).toBe(2);
      for (const b of [1, 2]) {
        expect(tile.bands.get(b).dataType).toBe('Float32');
        expect(Array.from(tile.bands.get(b).pixels.read(0, 0, 10, 5))).toEqual(Array.from(source.bands.get(b).pixels.read(0, 0, 10, 5)));
      }
      tile.close();
      source.close();
    } finally {
      gdal.vsimem.release(path);
    }
  });
});
