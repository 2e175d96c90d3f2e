// A job whose tiles failed says why: each region keeps a short summary (counts, the most common reasons with a tile),
// and the job's final message combines them; when no tile of the image succeeded nothing is written and the job is
// FAILED saying so. Through the real image and region handlers on in-process queues and stores (`tessera run`'s
// deployment), with real tile workers and loopback models.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { parseImageRequest } from '../src/api/image-request.js';
import { runLocal, type LocalRunSettings } from '../src/service/local-run.js';
import { tempDir } from './helpers/cli.js';
import { tileOriginOf, writePositionImage } from './helpers/serve.js';
import { recordingSink } from './helpers/service-context.js';

let image: string;
let model: Server;
let modelUrl: string;

beforeAll(async () => {
  // 1024 x 512, tiles of 256 without overlap, regions of 512: two regions of four tiles.
  image = join(tempDir('tessera-why-'), 'why.tif');
  writePositionImage(image, 1024, 512);
  // Rejects (400, not retried) the two top tiles of the left region, answers one box for the others.
  model = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [x, y] = (tileOriginOf(Buffer.concat(chunks)) ?? '-1,-1').split(',').map(Number);
      if (y === 0 && x >= 0 && x < 512) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('bad tile');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [100, 100, 150, 150], featureClasses: [{ iri: 'box', score: 0.9 }] } }] }));
    });
  });
  await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
  modelUrl = `http://127.0.0.1:${(model.address() as { port: number }).port}/invocations`;
});
afterAll(() => new Promise<void>((r) => model.close(() => r())));

function settings(url: string): LocalRunSettings {
  const request = parseImageRequest({
    jobId: 'why', imageUrls: [image], outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p/' }],
    imageProcessor: { name: url, type: 'HTTP_ENDPOINT' }, imageProcessorTileSize: 256, imageProcessorTileOverlap: 0, imageProcessorTileFormat: 'PNG',
  });
  return { request, regionSize: 512, tilingStrategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 5000, maxRetries: 0, workers: 1 };
}

describe('the reason a job records', () => {
  test('some tiles failed: PARTIAL, and the message says how many of how many and why, with a tile, then the outputs', async () => {
    const { sink, written } = recordingSink();
    const run = await runLocal(settings(modelUrl), { output: () => sink });
    // One region PARTIAL, the other SUCCESS: the image is PARTIAL (OSML's rule).
    expect(run.status).toBe('PARTIAL');
    // 2 of the 8 tiles were rejected; one reason, named with one of them.
    expect(run.job.message).toMatch(/^2 of 8 tiles failed; most often \(2\): \(0, (0|256)\)\(256, 256\): model returned HTTP 400 after 1 attempt: "bad tile"; 6 features \(6 before de-duplication\); outputs: Test test ok \(6\)$/);
    expect(written.map((w) => w.length)).toEqual([6]);
  });

  test('no tile succeeded: FAILED, nothing written, the message says what failed and that no output was written', async () => {
    const { sink, written } = recordingSink();
    const url = 'http://127.0.0.1:1/invocations'; // nothing listens on port 1
    const run = await runLocal(settings(url), { output: () => sink });
    expect(run.status).toBe('FAILED');
    expect(run.outputWritten).toBe(false);
    expect(written).toEqual([]);
    expect(run.job.message).toContain('could not reach model at http://127.0.0.1:1/invocations (connect ECONNREFUSED 127.0.0.1:1) after 1 attempt; no output written');
    expect(run.job.message!.startsWith('every tile failed (8 of 8); most often (8): (')).toBe(true);
    expect(run.job.output_outcomes).toBeUndefined();
  });
});
