// Every real image in ../shared/fixtures/real through the whole engine with OSML's centerpoint model, in every
// tile format. Expectations come from the fixture manifest (size, georeferencing) and from GDAL's own coordinate
// transformation, not from Tessera.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import gdal from 'gdal-async';
import { runImage, type ImageJob } from '../src/pipeline/run-image.js';
import { TilePool } from '../src/pipeline/tile-pool.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { realFixture } from './helpers/cli.js';

/**
 * Files whose georeferencing gives lon/lat (manifest: a geotransform with a CRS, or 4 GCPs that span the chip).
 * Not: rotated.tif (geotransform without CRS, coordinates 100..200 are not degrees), sar_sicd.ntf (4 identical
 * GCPs), byte_rpc.tif (RPC only), and files without georeferencing.
 */
const GEOREFERENCED = new Set([
  'i_3001a.ntf', 'autzen-utm10.ntf', 'gdal3453.ntf', 'rgb.ntf', 'fake_nsif.ntf', 'test_rpc_with_gt_bug_2460.tif',
  'GeogToWGS84GeoKey5.tif', 'n47_e034_3arc_v2.tif', 'RGB.byte.tif', 'cogeo.tif', 'RGBA.uint16.tif', 'world.byte.tif',
  'cropped_sicd_120.nitf', 'cropped_sidd.nitf',
]);

const images = readdirSync(realFixture('')).filter((f) => !/\.(md|geojson)$/.test(f)).sort();

/** WGS84 bounding box of the image footprint from the gdaltransform command (GDAL/PROJ, independent of proj4js). */
function footprint(path: string): [number, number, number, number] | null {
  const ds = gdal.open(path);
  const gcps = ds.getGCPs();
  if (!ds.geoTransform && gcps.length) {
    // GDAL cannot fit a transform to these rounded chip GCPs either: their lon/lat extent is the footprint,
    // widened by the half pixel between the corner-pixel centres (where the GCPs sit) and the image edge.
    const xs = gcps.map((g) => g.dfGCPX), ys = gcps.map((g) => g.dfGCPY), px = gcps.map((g) => g.dfGCPPixel), ln = gcps.map((g) => g.dfGCPLine);
    const spanPixels = Math.min(Math.max(...px) - Math.min(...px), Math.max(...ln) - Math.min(...ln));
    const mx = ((Math.max(...xs) - Math.min(...xs) || Math.max(...ys) - Math.min(...ys)) * 0.5) / spanPixels;
    const my = ((Math.max(...ys) - Math.min(...ys) || Math.max(...xs) - Math.min(...xs)) * 0.5) / spanPixels;
    return [Math.min(...xs) - mx, Math.min(...ys) - my, Math.max(...xs) + mx, Math.max(...ys) + my];
  }
  const { x: w, y: h } = ds.rasterSize;
  const input = [[0, 0], [w, 0], [w, h], [0, h], [w / 2, h / 2]].map((p) => p.join(' ')).join('\n');
  const out = execFileSync('gdaltransform', ['-t_srs', 'EPSG:4326', '-output_xy', path], { input }).toString().trim().split('\n');
  const pts = out.map((l) => l.trim().split(/\s+/).map(Number));
  return [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
}

let server: ModelServer;
// One long-lived worker pool for every run, as the service uses it (workers cache per-image settings by key).
let pool: TilePool;
beforeAll(async () => {
  server = await startModelServer({ port: 0 });
  pool = new TilePool({ workers: 2 });
});
afterAll(async () => {
  await pool?.destroy();
  await server?.close();
});

const job = (image: string, format: ImageJob['encoding']['format']): ImageJob => ({
  jobId: 'corpus',
  image: realFixture(image),
  detector: { kind: 'http', url: `${server.url}/invocations`, customAttributes: 'model_selection=centerpoint', timeoutMs: 30_000, maxRetries: 1 },
  tileSize: 512,
  overlap: 128,
  regionSize: 10240,
  strategy: 'variable-overlap',
  encoding: { format, compression: 'NONE', quality: 90 },
  distillation: { algorithm: 'NMS', iouThreshold: 0.75 },
  featureProperties: [],
});

describe.each(images)('%s', (image) => {
  it.each(['NITF', 'GTIFF', 'PNG', 'JPEG'] as const)('processes end to end with %s tiles', async (format) => {
    const ds = gdal.open(realFixture(image));
    const { x: width, y: height } = ds.rasterSize;
    const result = await runImage(job(image, format), { pool });
    expect(result.failures).toEqual([]);
    expect(result.tiles.total).toBeGreaterThanOrEqual(1);
    // centerpoint answers one box per tile; tile centres are >= 256 px apart, so de-duplication keeps them all
    expect(result.features).toHaveLength(result.tiles.total);
    const box = GEOREFERENCED.has(image) ? footprint(realFixture(image)) : null;
    for (const f of result.features) {
      const [x1, y1, x2, y2] = f.properties.imageBBox as number[];
      expect(x1).toBeGreaterThanOrEqual(0);
      expect(y1).toBeGreaterThanOrEqual(0);
      expect(x2).toBeLessThanOrEqual(width);
      expect(y2).toBeLessThanOrEqual(height);
      if (GEOREFERENCED.has(image)) {
        expect(f.geometry).not.toBeNull();
        if (box) {
          const lon = f.properties.center_longitude as number, lat = f.properties.center_latitude as number;
          const slack = 1e-9 + (box[2] - box[0]) * 1e-6;
          expect(lon).toBeGreaterThanOrEqual(box[0] - slack);
          expect(lon).toBeLessThanOrEqual(box[2] + slack);
          expect(lat).toBeGreaterThanOrEqual(box[1] - slack);
          expect(lat).toBeLessThanOrEqual(box[3] + slack);
        }
      } else {
        expect(f.geometry).toBeNull();
      }
    }
  });
});
