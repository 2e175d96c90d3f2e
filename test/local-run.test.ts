// `tessera run` goes through the service's image and region handlers on in-process queues and stores. An image
// split into several regions must come out exactly as the tiling says: every tile sent once (the image handler's
// first region plus the region handler's others), every detection moved by its tile's origin, nothing twice.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realFixture, runCli, tempDir } from './helpers/cli.js';
import { runLocal } from '../src/service/local-run.js';
import { parseImageRequest } from '../src/api/image-request.js';
import { recordingSink } from './helpers/service-context.js';
import { Metrics } from '../src/metrics/emf.js';

/** A loopback model that answers every tile with one box at tile pixels [100, 100, 156, 156]. */
let server: Server;
let modelUrl: string;
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        type: 'FeatureCollection',
        features: [{ type: 'Feature', geometry: null, id: 'x', properties: { imageGeometry: { type: 'Point', coordinates: [128, 128] }, imageBBox: [100, 100, 156, 156], featureClasses: [{ iri: 'box', score: 0.9 }] } }],
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  modelUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/invocations`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('tessera run through the handlers', () => {
  test('a 1024x1024 image in 512x512 regions: 4 regions, 16 tiles, each sent once, 16 features at their tiles', async () => {
    const out = join(tempDir(), 'regions.geojson');
    requests = 0;
    // i_3001a.ntf is 1024 x 1024; tiles of 256 without overlap give a 4 x 4 grid, regions of 512 hold 2 x 2 tiles each.
    const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', modelUrl, '--tile-size', '256', '--overlap', '0', '--region-size', '512', '--tile-format', 'PNG', '--no-progress', '--out', out]);
    expect(r.stderr).toContain('16 tiles, 0 failed, 16 features before de-duplication, 16 after');
    expect(r.code).toBe(0);
    expect(requests).toBe(16);
    const fc = JSON.parse(readFileSync(out, 'utf8'));
    expect(fc.tesseraMetadata.tiling.regions).toBe(4);
    expect(fc.tesseraMetadata.tiles).toEqual({ total: 16, succeeded: 16, failed: 0 });
    const boxes = fc.features.map((f: { properties: { imageBBox: number[] } }) => f.properties.imageBBox.join(',')).sort();
    const expected: string[] = [];
    for (const y of [0, 256, 512, 768]) for (const x of [0, 256, 512, 768]) expected.push([x + 100, y + 100, x + 156, y + 156].join(','));
    expect(boxes).toEqual(expected.sort());
  });

  test('a request the image handler rejects before any job exists ends the run with its reason (not a wait forever)', async () => {
    // Schema-valid, but the handler's own checks refuse a request with nowhere to send its features.
    const request = parseImageRequest({ jobId: 'no-outputs', imageUrls: [realFixture('i_3001a.ntf')], imageProcessor: { name: modelUrl, type: 'HTTP_ENDPOINT' }, outputs: [] });
    const settings = { request, regionSize: 10240, tilingStrategy: 'variable-overlap' as const, quality: 90, maxPayloadBytes: 0, timeoutMs: 10_000, maxRetries: 0, workers: 1 };
    await expect(runLocal(settings, { output: () => { throw new Error('no output expected'); } })).rejects.toThrow(/outputs: the request has no outputs/);
  });
});

describe('empty roles (OSML sends "" for "no role")', () => {
  test('a 4-region job with imageReadRole, imageProcessor.assumedRole and an output role "" ends SUCCESS with every tile\'s feature', async () => {
    requests = 0;
    // Schema-valid in OSML: "" is the default of both roles. i_3001a.ntf (1024 x 1024) in 512 x 512 regions of 256 x 256 tiles: 4 regions, 16 tiles.
    const request = parseImageRequest({
      jobId: 'empty-roles',
      imageUrls: [realFixture('i_3001a.ntf')],
      imageReadRole: '',
      imageProcessor: { name: modelUrl, type: 'HTTP_ENDPOINT', assumedRole: '' },
      imageProcessorTileSize: 256,
      imageProcessorTileOverlap: 0,
      imageProcessorTileFormat: 'PNG',
      outputs: [{ type: 'S3', bucket: 'unused-bucket', prefix: 'p', role: '' }],
    });
    const { sink, written } = recordingSink();
    const settings = { request, regionSize: 512, tilingStrategy: 'variable-overlap' as const, quality: 90, maxPayloadBytes: 0, timeoutMs: 10_000, maxRetries: 0, workers: 1 };
    let timer: NodeJS.Timeout | undefined;
    // Before roles were normalised, regions 2..4 were refused as not matching their job and the job never ended.
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the job did not end within 30 s')), 30_000)));
    const result = await Promise.race([runLocal(settings, { output: () => sink }), timeout]).finally(() => clearTimeout(timer));
    expect(result.state.plan?.regions.length).toBe(4);
    expect(result.status).toBe('SUCCESS');
    expect(result.job.completed_region_ids).toHaveLength(4);
    expect(requests).toBe(16);
    expect(written).toHaveLength(1);
    expect(written[0]).toHaveLength(16);
  });
});

describe('metrics never fail work', () => {
  test('a model URL EMF cannot take as a dimension value (non-ASCII, over 1024 characters) loses no tile: the job ends SUCCESS with every feature, metrics written', async () => {
    requests = 0;
    // Passes request validation (an HTTP model URL may be 2048 bytes); the model server answers any path.
    const name = `${modelUrl}?model=modèle-${'x'.repeat(1100)}`;
    const request = parseImageRequest({
      jobId: 'odd-model-name',
      imageUrls: [realFixture('i_3001a.ntf')],
      imageProcessor: { name, type: 'HTTP_ENDPOINT' },
      imageProcessorTileSize: 256,
      imageProcessorTileOverlap: 0,
      imageProcessorTileFormat: 'PNG',
      outputs: [{ type: 'S3', bucket: 'unused-bucket', prefix: 'p' }],
    });
    const lines: string[] = [];
    const metrics = new Metrics({ write: (l) => void lines.push(l), maxPending: 100_000, logger: { warn: () => undefined } });
    const { sink, written } = recordingSink();
    const settings = { request, regionSize: 512, tilingStrategy: 'variable-overlap' as const, quality: 90, maxPayloadBytes: 0, timeoutMs: 10_000, maxRetries: 0, workers: 1 };
    let timer: NodeJS.Timeout | undefined;
    // Before, the tile metric threw before the tile's features were stored: every tile was lost and the job never ended.
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the job did not end within 30 s')), 30_000)));
    const result = await Promise.race([runLocal(settings, { output: () => sink, metrics }), timeout]).finally(() => clearTimeout(timer));
    expect(result.status).toBe('SUCCESS');
    expect(requests).toBe(16);
    expect(written).toHaveLength(1);
    expect(written[0]).toHaveLength(16);
    await metrics.flush();
    const tileDocs = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((d) => d.Operation === 'TileProcessing');
    expect(tileDocs.flatMap((d) => [d.Invocations].flat())).toHaveLength(16);
    for (const d of tileDocs) {
      expect(d.ModelName).toHaveLength(1024);
      expect(d.ModelName).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/invocations\?model=mod%C3%A8le-x+#[0-9a-f]{16}$/);
    }
  });
});
