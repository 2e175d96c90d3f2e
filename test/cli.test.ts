// `tessera run` as a user runs it: every bad input gets one clear message naming the input and the reason, the
// exit status tells what happened, and a failed run never leaves a truncated output in place of a good one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import gdal from 'gdal-async';
import { cliPath, runCli, realFixture, tempDir } from './helpers/cli.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';

let server: ModelServer;
beforeAll(async () => {
  server = await startModelServer({ port: 0 });
});
afterAll(async () => server?.close());

const model = () => ['--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=centerpoint'];

describe('errors before processing (exit 1, one clear message)', () => {
  it('a missing image', async () => {
    const r = await runCli(['run', '/no/such/image.ntf', ...model()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/no/such/image.ntf: file not found');
  });

  it('a folder or a pipe instead of an image file (a pipe would block GDAL forever)', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'pipe.ntf');
    execFileSync('mkfifo', [fifo]);
    const folder = await runCli(['run', dir, ...model()]);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toContain(`${dir}: is a folder, not an image file`);
    const pipe = await runCli(['run', fifo, ...model()], { timeoutMs: 30_000 });
    expect(pipe.code).toBe(1);
    expect(pipe.stderr).toContain(`${fifo}: is not a regular file`);
  });

  it('a file that is not a raster', async () => {
    const r = await runCli(['run', realFixture('MANIFEST.md'), ...model()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/MANIFEST\.md: not a raster image GDAL can read/);
  });

  it('tile size not larger than the overlap', async () => {
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--tile-size', '256', '--overlap', '256']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--overlap 256 must be smaller than --tile-size 256');
  });

  it('a model nobody listens to', async () => {
    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((res) => closed.close(() => res()));
    const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', `http://127.0.0.1:${port}/invocations`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`model endpoint http://127.0.0.1:${port}/invocations cannot be reached: connection refused`);
  });

  it('an ROI outside the image, bad WKT, unknown options', async () => {
    const outside = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--roi', 'POLYGON ((10 10, 11 10, 11 11, 10 11, 10 10))']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('region of interest: does not intersect the image');
    const bad = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--roi', 'POLYGON ((1 2, 3']);
    expect(bad.stderr).toContain('region of interest: not valid WKT');
    const fmt = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--tile-format', 'WEBP']);
    expect(fmt.stderr).toContain('--tile-format must be one of NITF, JPEG, PNG, GTIFF, got "WEBP"');
    const dedup = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--dedup', 'nms:2']);
    expect(dedup.stderr).toContain('--dedup nms:2: IOU threshold must be a number between 0 and 1');
    const band = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--bands', '2']);
    expect(band.stderr).toContain('bands[0] = 2 is not a band of this image (it has 1');
    for (const r of [outside, bad, fmt, dedup, band]) expect(r.code).toBe(1);
  });

  it('a model that rejects every tile with the same client error stops the run', async () => {
    // The test model answers 400 for an unknown model selection; i_3001a has 9 tiles, the run stops after 8.
    const out = join(tempDir(), 'rejected.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=nope', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the model rejected (the first|all) \d+ tiles with HTTP 400/);
    expect(r.stderr).toContain('Invalid or missing model selection');
    expect(existsSync(out)).toBe(false);
    // An image of fewer tiles than that is judged on all of them: one 1024 tile, rejected, is the same misconfiguration.
    const single = await runCli(['run', realFixture('i_3001a.ntf'), '--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=nope', '--tile-size', '1024', '--out', out]);
    expect(single.code).toBe(1);
    expect(single.stderr).toContain('the model rejected the only tile with HTTP 400');
    expect(existsSync(out)).toBe(false);
  });

  it('a request file with problems lists each field', async () => {
    const dir = tempDir();
    const req = join(dir, 'req.json');
    writeFileSync(req, JSON.stringify({ jobId: '', imageUrls: [], imageProcessor: { name: 'x', type: 'NOPE' }, imageProcessorTileSize: 256, imageProcessorTileOverlap: 300 }));
    const r = await runCli(['run', '--request', req]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('jobId: must not be empty');
    expect(r.stderr).toContain('imageUrls: must hold one image');
    expect(r.stderr).toContain('imageProcessor.type: must be "SM_ENDPOINT" or "HTTP_ENDPOINT"');
    expect(r.stderr).toContain('imageProcessorTileOverlap: must be smaller than imageProcessorTileSize (300 >= 256)');
  });
});

describe('NITF image segments and payload limits', () => {
  it('processes the segment asked for and refuses one the file does not have', async () => {
    // U_1122A.NTF: segment 0 is 1024x1024 (9 tiles at 512/128), segments 1-4 are 231x191 (one partial tile each)
    const out = join(tempDir(), 'seg.geojson');
    const r = await runCli(['run', realFixture('U_1122A.NTF'), ...model(), '--image-segment', '2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const fc = JSON.parse(readFileSync(out, 'utf8'));
    expect(fc.features).toHaveLength(1);
    // centerpoint: a box of 0.1 of the tile size each side of the centre: 115.5 ± 23.1, 95.5 ± 19.1
    const expected = [92.4, 76.4, 138.6, 114.6];
    (fc.features[0].properties.imageBBox as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
    const bad = await runCli(['run', realFixture('U_1122A.NTF'), ...model(), '--image-segment', '7']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('image segment 7 requested but the file has 5 image segment(s)');
  });

  it('a tile over the payload limit fails before it is sent, saying what would fit', async () => {
    // 512x512 8-bit NITF tiles are ~262 KB uncompressed; a 0.1 MB limit fails all 9 tiles.
    const out = join(tempDir(), 'payload.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--max-payload-mb', '0.1', '--out', out]);
    // No tile succeeded: nothing is written (the handlers' aggregation writes no output then), exit 1 with the reason.
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/every tile failed \(9 of 9\); most often \(9\): \(\d+, \d+\)\(512, 512\): encoded NITF tile is 0\.25 MB, over the model's 0\.10 MB payload limit; would fit: a tile size of about \d+ or less, JPEG tiles/);
    expect(r.stderr).toContain('no output written');
    expect(existsSync(out)).toBe(false);
  });
});

describe('tiles that fail', () => {
  let flaky: Server;
  let url: string;
  beforeAll(async () => {
    // A model that answers garbage for every tile whose bytes hash odd: some tiles fail, the rest succeed.
    let n = 0;
    flaky = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        n++;
        if (n % 3 === 0) {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>oops</html>');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [10, 10, 20, 20], featureClasses: [{ iri: 'x', score: 0.5 }] } }] }));
        }
      });
    });
    await new Promise<void>((res) => flaky.listen(0, '127.0.0.1', res));
    url = `http://127.0.0.1:${(flaky.address() as { port: number }).port}/invocations`;
  });
  afterAll(() => new Promise<void>((res) => flaky.close(() => res())));

  it('some failed tiles: exit 2, the output is written and lists them', async () => {
    const out = join(tempDir(), 'partial.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', url, '--retries', '0', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/9 tiles, 3 failed/);
    expect(r.stderr).toMatch(/not JSON|not valid JSON|JSON/);
    const fc = JSON.parse(readFileSync(out, 'utf8'));
    expect(fc.features).toHaveLength(6);
    expect(fc.tesseraMetadata.status).toBe('PARTIAL');
    expect(fc.tesseraMetadata.failedTiles).toHaveLength(3);
  });
});

describe('output safety', () => {
  it('--out - streams the collection to standard output (the summary stays on stderr)', async () => {
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--out', '-']);
    expect(r.code, r.stderr).toBe(0);
    const fc = JSON.parse(r.stdout);
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(9);
  });

  it('refuses, before any tile, an output that is the input image, a folder, or in a missing folder', async () => {
    // Works on a copy: a broken check must never be able to overwrite the shared fixture.
    const dir = tempDir();
    const input = join(dir, 'copy.ntf');
    copyFileSync(realFixture('i_3001a.ntf'), input);
    symlinkSync(dir, join(dir, 'via-link'));
    const before = readFileSync(input);
    const cases: Array<[string, string]> = [
      [input, 'is the input image; refusing to overwrite it'],
      [join(dir, 'via-link', 'copy.ntf'), 'is the input image; refusing to overwrite it'],
      [dir, 'is a directory'],
      [join(dir, 'missing', 'x.geojson'), `folder ${join(dir, 'missing')} does not exist`],
    ];
    for (const [out, message] of cases) {
      const r = await runCli(['run', input, ...model(), '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain('tiles,'); // nothing was processed
    }
    expect(readFileSync(input).equals(before)).toBe(true);
  });

  it('an interrupted run says so, exits 130 and leaves no output and no temporary file', async () => {
    const dir = tempDir();
    const out = join(dir, 'interrupted.geojson');
    // Each tile takes the built-in model ~5 s, so the run is still working when it is interrupted.
    const child = spawn(process.execPath, [cliPath, 'run', realFixture('i_3001a.ntf'), '--model', 'builtin:centerpoint', '--custom-attributes', 'mock_latency_mean=5000', '--no-progress', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT: stopped;');
    expect(stderr).toContain('i_3001a.ntf not processed, no output written');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed run leaves the previous good output untouched and no temporary file behind', async () => {
    const dir = tempDir();
    const out = join(dir, 'keep.geojson');
    writeFileSync(out, '{"good": true}');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--roi', 'POLYGON ((10 10, 11 10, 11 11, 10 11, 10 10))', '--out', out]);
    expect(r.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('{"good": true}');
    expect(readdirSync(dir)).toEqual(['keep.geojson']);
  });

  it('an ROI limits processing to the pixels under it', async () => {
    const ds = gdal.open(realFixture('i_3001a.ntf'));
    const gt = ds.geoTransform!;
    const at = (x: number, y: number) => `${gt[0] + x * gt[1]} ${gt[3] + y * gt[5]}`;
    const wkt = `POLYGON ((${at(0, 0)}, ${at(600, 0)}, ${at(600, 520)}, ${at(0, 520)}, ${at(0, 0)}))`;
    const out = join(tempDir(), 'roi.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--roi', wkt, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const fc = JSON.parse(readFileSync(out, 'utf8'));
    // bounds 600x520: x axis: ceil((600-128)/384)=2 tiles -> O' = 128 + ceil((128+768-600)/1) = 424, stride 88;
    // y axis: 2 tiles, O' = 128 + ceil(376) = 504, stride 8 -> 2x2 tiles, all inside the ROI box
    expect(fc.features).toHaveLength(4);
    for (const f of fc.features) {
      const [, , x2, y2] = f.properties.imageBBox;
      expect(x2).toBeLessThanOrEqual(600);
      expect(y2).toBeLessThanOrEqual(520);
    }
    expect(existsSync(out)).toBe(true);
  });
});
