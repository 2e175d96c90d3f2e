// A YCbCr601 JPEG NITF (WithBE.ntf: IREP=YCbCr601, IC=C3) reaches the model as RGB: the PNG tile's pixels equal the
// RGB that GDAL's decoder gives for the same window (its natural colours were checked by eye: autumn trees, blue sky).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import gdal from 'gdal-async';
import sharp from 'sharp';
import { runImage } from '../src/pipeline/run-image.js';
import { realFixture } from './helpers/cli.js';
import { startRecordingModel, type RecordingModel } from './helpers/recording-model.js';

describe('YCbCr JPEG NITF', () => {
  let model: RecordingModel;
  let url: string;
  let bodies: Buffer[];
  beforeAll(async () => {
    model = await startRecordingModel();
    ({ url, bodies } = model);
  });
  afterAll(() => model?.close());

  it('sends RGB PNG tiles equal to GDAL’s decoded RGB', async () => {
    const image = realFixture('WithBE.ntf');
    const result = await runImage({
      jobId: 'j', image, detector: { kind: 'http', url, timeoutMs: 5000, maxRetries: 0 },
      tileSize: 512, overlap: 128, regionSize: 10240, strategy: 'variable-overlap',
      encoding: { format: 'PNG', compression: 'NONE', quality: 90 }, distillation: { algorithm: 'NONE' }, featureProperties: [], workers: 1,
    });
    expect(result.failures).toEqual([]);
    expect(result.conversion.bands).toEqual([0, 1, 2]);
    const ds = gdal.open(image);
    // 683x512 at 512/128: two 512x512 tiles at x = 0 and x = 171 (widened overlap)
    expect(bodies).toHaveLength(2);
    const decoded = await Promise.all(bodies.map((b) => sharp(b).raw().toBuffer({ resolveWithObject: true })));
    const origins: number[] = [];
    for (const { data, info } of decoded) {
      expect([info.width, info.height, info.channels]).toEqual([512, 512, 3]);
      const sameAs = (x0: number) => [0, 1, 2].every((b) => {
        const plane = ds.bands.get(b + 1).pixels.read(x0, 0, 512, 512);
        for (let i = 0; i < plane.length; i += 997) if (plane[i] !== data[i * 3 + b]) return false;
        return true;
      });
      origins.push([0, 171].find(sameAs) ?? -1);
    }
    expect([...origins].sort((a, b) => a - b)).toEqual([0, 171]);
    // Independent of GDAL's decode: in the tile at x = 0 the sky at (60, 10) is blue and the leaves at (200, 450)
    // are yellow-green in RGB (as YCbCr those bytes would be a saturated magenta and a dark green-blue).
    const tile0 = decoded[origins.indexOf(0)].data;
    const rgb = (x: number, y: number) => [0, 1, 2].map((c) => tile0[(y * 512 + x) * 3 + c]);
    const [r, , b] = rgb(60, 10);
    expect(b).toBeGreaterThan(r + 40);
    const [r2, g2, b2] = rgb(200, 450);
    expect(g2).toBeGreaterThan(b2 + 50);
    expect(r2).toBeGreaterThan(b2 + 50);
  });
});
