// Per-tile metrics (OSML §10: TileGeneration, ModelInvocation, FeatureRefinement, TileProcessing) through the
// service's handlers, in process (`runLocal`, no AWS), against a loopback model whose answers depend on the tile
// it receives: the counts asserted are what the model saw and what it was told to do, not what the code printed.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { tempDir } from './helpers/cli.js';
import { tileOriginOf, writePositionImage } from './helpers/serve.js';
import { runLocal } from '../src/service/local-run.js';
import { parseImageRequest } from '../src/api/image-request.js';
import { Metrics } from '../src/metrics/emf.js';
import type { Sink } from '../src/sinks/sink.js';

let server: Server;
let modelUrl: string;
let image: string;
/** What the model saw: tile origins of every request, and the 503s it answered. */
const seen = { requests: [] as string[], unavailable: 0 };

beforeAll(async () => {
  image = join(tempDir('tessera-tile-metrics-'), 'position.tif');
  writePositionImage(image, 600, 400);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const origin = tileOriginOf(Buffer.concat(chunks)) ?? '?';
      const firstTime = !seen.requests.includes(origin);
      seen.requests.push(origin);
      const [x, y] = origin.split(',').map(Number);
      if (origin === '0,0') {
        // The top-left tile is refused (400 is not retried): one model error.
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('no');
      } else if (y === 0 && x > 0 && firstTime) {
        // The rest of the top row is unavailable once, then answers: one retry each.
        seen.unavailable++;
        res.writeHead(503, { 'retry-after': '0' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [10, 10, 20, 20], featureClasses: [{ iri: 'box', score: 0.9 }] } }] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  modelUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/invocations`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const memorySink = (): Sink => ({
  type: 'File',
  target: 'memory',
  write: async (source) => {
    let n = 0;
    for await (const _ of source()) n++;
    return { featuresWritten: n, location: 'memory' };
  },
});

async function run(maxPayloadBytes: number) {
  const lines: string[] = [];
  const metrics = new Metrics({ write: (l) => void lines.push(l), maxPending: 100_000 });
  const request = parseImageRequest({
    jobId: `tile-metrics-${maxPayloadBytes}`,
    imageUrls: [image],
    outputs: [{ type: 'S3', bucket: 'unused', prefix: 'unused/' }],
    imageProcessor: { name: modelUrl, type: 'HTTP_ENDPOINT' },
    imageProcessorTileSize: 256,
    imageProcessorTileOverlap: 32,
    imageProcessorTileFormat: 'PNG',
  });
  const result = await runLocal({ request, regionSize: 10240, tilingStrategy: 'variable-overlap', quality: 90, maxPayloadBytes, timeoutMs: 10_000, maxRetries: 2, workers: 1 }, { output: memorySink, metrics });
  await metrics.flush();
  const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown> & { _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] } });
  const of = (op: string) => docs.filter((d) => d.Operation === op);
  /** Every sample of a metric of an operation (a document holds a number or an array of them). */
  const samples = (op: string, name: string) => of(op).flatMap((d) => [d[name] ?? []].flat() as number[]);
  const sum = (op: string, name: string) => samples(op, name).reduce((a, b) => a + b, 0);
  return { result, of, samples, sum };
}

describe('per-tile metrics', () => {
  test('each tile counts once per step, with OSML dimensions; model errors and retries land on ModelInvocation', async () => {
    seen.requests.length = 0;
    seen.unavailable = 0;
    const { result, of, samples, sum } = await run(0);
    const tiles = new Set(seen.requests).size;
    console.log(`tile metrics: ${tiles} tiles, ${seen.unavailable} answered 503 once, ${seen.requests.length} model requests`);
    // By hand: 600 px wide takes 3 tiles of 256 (overlap widened from 32), 400 px high takes 2; the top row's two
    // tiles right of the refused one are answered 503 once.
    expect(tiles).toBe(6);
    expect(seen.unavailable).toBe(2);
    expect(result.state.tiles).toEqual({ total: tiles, succeeded: tiles - 1, failed: 1 });

    for (const d of of('TileGeneration')) expect(d).toMatchObject({ InputFormat: 'GTIFF', _aws: { CloudWatchMetrics: [{ Dimensions: [['Operation', 'InputFormat']] }] } });
    for (const op of ['ModelInvocation', 'TileProcessing']) for (const d of of(op)) expect(d).toMatchObject({ ModelName: modelUrl, _aws: { CloudWatchMetrics: [{ Dimensions: [['Operation', 'ModelName']] }] } });
    for (const d of of('FeatureRefinement')) expect(d._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Operation']]);
    for (const op of ['TileGeneration', 'ModelInvocation', 'FeatureRefinement', 'TileProcessing']) expect(of(op).length, op).toBeGreaterThan(0);

    expect(sum('TileGeneration', 'Invocations')).toBe(tiles);
    expect(sum('TileGeneration', 'Errors')).toBe(0);
    expect(samples('TileGeneration', 'Duration')).toHaveLength(tiles);
    expect(sum('ModelInvocation', 'Invocations')).toBe(tiles);
    expect(sum('ModelInvocation', 'Errors')).toBe(1); // the refused tile
    expect(samples('ModelInvocation', 'Retries')).toHaveLength(tiles);
    expect(sum('ModelInvocation', 'Retries')).toBe(seen.unavailable); // one per 503 the model sent
    expect(sum('FeatureRefinement', 'Invocations')).toBe(tiles - 1);
    expect(sum('TileProcessing', 'Invocations')).toBe(tiles);
    expect(sum('TileProcessing', 'Errors')).toBe(1);
    expect(samples('TileProcessing', 'Retries')).toEqual([]); // OSML counts retries on the model call only
    for (const op of ['TileGeneration', 'ModelInvocation', 'FeatureRefinement', 'TileProcessing']) {
      for (const v of samples(op, 'Duration')) expect(v, op).toBeGreaterThanOrEqual(0);
    }
  });

  test('a tile that cannot be produced is a TileGeneration error and never reaches the model', async () => {
    seen.requests.length = 0;
    const first = await run(0);
    const tiles = first.result.state.tiles.total;
    seen.requests.length = 0;
    // 64 bytes: no 256x256 PNG fits, so every tile fails at its payload check, before the model call.
    const { result, of, sum } = await run(64);
    expect(seen.requests).toEqual([]);
    expect(result.state.tiles).toMatchObject({ total: tiles, succeeded: 0, failed: tiles });
    expect(sum('TileGeneration', 'Invocations')).toBe(tiles);
    expect(sum('TileGeneration', 'Errors')).toBe(tiles);
    expect(of('ModelInvocation')).toEqual([]);
    expect(of('FeatureRefinement')).toEqual([]);
    expect(sum('TileProcessing', 'Errors')).toBe(tiles);
  });
});
