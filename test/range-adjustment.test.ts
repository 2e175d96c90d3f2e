// Range adjustment for 11-16-bit imagery, with every expected value worked out by hand from the definitions:
// MINMAX maps min..max, DRA clips at 2 %/98 % of the cumulative histogram widened by 0.2/0.4 of the inner range
// and clamped to min..max; out = round((v - min) * 255 / (max - min)) clamped to 0..255.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import gdal from 'gdal-async';
import sharp from 'sharp';
import { draRange, histogramOf, minMaxRange } from '../src/pixels/range-adjustment.js';
import { convertTile } from '../src/pixels/native.js';
import { prepareImage, runImage, type ImageJob } from '../src/pipeline/run-image.js';
import { tempDir } from './helpers/cli.js';
import { startRecordingModel, type RecordingModel } from './helpers/recording-model.js';

// 100 samples of a 12-bit band: 100 x1, 200 x1, 1000 x96, 3000 x1, 4000 x1.
const SAMPLES = [100, 200, ...new Array(96).fill(1000), 3000, 4000];
// Cumulative counts 1, 2, 98, 99, 100. 2 % of 100 = 2 -> first value reaching it: 200. 98 % = 98 -> 1000.
// Inner range 800: low = max(100, 200 - 0.2*800 = 40) = 100; high = min(4000, 1000 + 0.4*800 = 1320) = 1320.
const DRA: [number, number] = [100, 1320];
const MINMAX: [number, number] = [100, 4000];

function write12Bit(path: string, width: number, height: number, values: number[]) {
  const ds = gdal.open(path, 'w', 'GTiff', width, height, 1, 'UInt16', ['NBITS=12']);
  ds.bands.get(1).pixels.write(0, 0, width, height, Uint16Array.from(values));
  ds.close();
}

describe('range adjustment definitions', () => {
  it('MINMAX and DRA of a hand-made 12-bit histogram', () => {
    const h = histogramOf(SAMPLES, true);
    expect(minMaxRange(h)).toEqual(MINMAX);
    expect(draRange(h)).toEqual(DRA);
  });

  it('the native stretch gives the hand-computed 8-bit values', () => {
    const src = new Uint8Array(Uint16Array.from([100, 200, 1000, 1320, 3000, 4000]).buffer);
    const dra = convertTile(src, { width: 6, height: 1, bandCount: 1, dataType: 'UInt16', bands: [0], outputType: 'Byte', ranges: [DRA] });
    // (200-100)*255/1220 = 20.90 -> 21; (1000-100)*255/1220 = 188.11 -> 188; 1320 -> 255; above -> 255
    expect([...dra]).toEqual([0, 21, 188, 255, 255, 255]);
    const mm = convertTile(src, { width: 6, height: 1, bandCount: 1, dataType: 'UInt16', bands: [0], outputType: 'Byte', ranges: [MINMAX] });
    // 100*255/3900 = 6.54 -> 7; 900*255/3900 = 58.85 -> 59; 1220*255/3900 = 79.77 -> 80; 2900*255/3900 = 189.62 -> 190
    expect([...mm]).toEqual([0, 7, 59, 80, 190, 255]);
  });

  it('statistics are computed once per image from the file, for the whole image', async () => {
    const path = join(tempDir(), 'twelve.tif');
    write12Bit(path, 10, 10, SAMPLES);
    const job = (rangeAdjustment: 'DRA' | 'MINMAX'): ImageJob => ({
      jobId: 'j', image: path, detector: { kind: 'http', url: 'http://127.0.0.1:9/invocations', timeoutMs: 1000, maxRetries: 0 },
      tileSize: 512, overlap: 128, regionSize: 10240, strategy: 'variable-overlap',
      encoding: { format: 'JPEG', compression: 'NONE', quality: 90 }, distillation: { algorithm: 'NONE' }, featureProperties: [], rangeAdjustment,
    });
    expect((await prepareImage(job('DRA'))).conversion.ranges).toEqual([DRA]);
    expect((await prepareImage(job('MINMAX'))).conversion.ranges).toEqual([MINMAX]);
  });
});

describe('a 16-bit image sent as JPEG tiles', () => {
  let model: RecordingModel;
  let url: string;
  let bodies: Buffer[];
  beforeAll(async () => {
    model = await startRecordingModel();
    ({ url, bodies } = model);
  });
  afterAll(() => model?.close());

  it('is stretched to 8 bits with DRA by default and decodes to the expected values within JPEG tolerance', async () => {
    // 64x64, four 32x32 quadrants of 100, 1000, 3000, 4000 (1024 samples each). Cumulative 25/50/75/100 %:
    // 2 % -> 100, 98 % -> 4000, inner 3900, clamped to min..max: DRA = [100, 4000].
    // Expected: 100 -> 0, 1000 -> round(900*255/3900) = 59, 3000 -> round(2900*255/3900) = 190, 4000 -> 255.
    const values: number[] = [];
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) values.push(y < 32 ? (x < 32 ? 100 : 1000) : x < 32 ? 3000 : 4000);
    const path = join(tempDir(), 'sixteen.tif');
    write12Bit(path, 64, 64, values);
    const result = await runImage({
      jobId: 'j', image: path, detector: { kind: 'http', url, timeoutMs: 5000, maxRetries: 0 },
      tileSize: 512, overlap: 128, regionSize: 10240, strategy: 'variable-overlap',
      encoding: { format: 'JPEG', compression: 'NONE', quality: 95 }, distillation: { algorithm: 'NONE' }, featureProperties: [], workers: 1,
    });
    expect(result.failures).toEqual([]);
    expect(result.conversion).toMatchObject({ rangeAdjustment: 'DRA', outputType: 'Byte', ranges: [[100, 4000]] });
    expect(result.warnings.join('\n')).toContain('stretched to 8 bits with DRA');
    const meta = await sharp(bodies[0]).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 64, 64, 1]);
    const { data } = await sharp(bodies[0]).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[y * 64 + x];
    // Quadrant centres, away from the edges where JPEG rings.
    expect(Math.abs(at(16, 16) - 0)).toBeLessThanOrEqual(3);
    expect(Math.abs(at(48, 16) - 59)).toBeLessThanOrEqual(3);
    expect(Math.abs(at(16, 48) - 190)).toBeLessThanOrEqual(3);
    expect(Math.abs(at(48, 48) - 255)).toBeLessThanOrEqual(3);
  });
});
