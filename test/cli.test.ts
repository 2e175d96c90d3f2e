// `tessera run` as a user runs it: every bad input gets one clear message naming the input and the reason, the
// exit status tells what happened, and a failed run never leaves a truncated output in place of a good one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
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

  it('a URL instead of a local file is named as the user gave it (not as a request field the user never wrote)', async () => {
    const s3 = await runCli(['run', 's3://bucket/image.ntf', ...model()]);
    expect(s3.code).toBe(1);
    expect(s3.stderr).toContain('tessera: error: s3://bucket/image.ntf: s3:// images need the service mode (tessera serve); tessera run reads local files');
    const http = await runCli(['run', 'http://127.0.0.1:1/image.ntf', ...model()]);
    expect(http.code).toBe(1);
    expect(http.stderr).toContain('tessera: error: http://127.0.0.1:1/image.ntf: not a local file; tessera run reads local files');
    const req = join(tempDir(), 'req.json');
    writeFileSync(req, JSON.stringify({ jobId: 'j', imageUrls: ['s3://bucket/image.ntf'], imageProcessor: { name: `${server.url}/invocations`, type: 'HTTP_ENDPOINT' } }));
    const fromRequest = await runCli(['run', '--request', req]);
    expect(fromRequest.code).toBe(1);
    expect(fromRequest.stderr).toContain(`tessera: error: --request ${req} imageUrls[0] s3://bucket/image.ntf: s3:// images need the service mode`);
    for (const r of [s3, http, fromRequest]) expect(r.stderr).not.toContain('imageUrls.0');
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

  it('custom attributes that cannot be an HTTP header value are refused up front, naming the option or field', async () => {
    // "model_selection=centerpoint" is 27 characters: the newline is character 28.
    const nl = await runCli(['run', realFixture('i_3001a.ntf'), '--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=centerpoint\nx=1']);
    expect(nl.code).toBe(1);
    expect(nl.stderr).toContain('tessera: error: --custom-attributes: contains a newline at character 28; an HTTP header value takes printable ASCII only');
    expect(nl.stderr).not.toContain('could not reach');
    // "model_selection=centerpo" is 24 characters: the ï is character 25.
    const accent = await runCli(['run', realFixture('i_3001a.ntf'), '--model', 'builtin:centerpoint', '--custom-attributes', 'model_selection=centerpoïnt']);
    expect(accent.code).toBe(1);
    expect(accent.stderr).toContain('--custom-attributes: contains non-ASCII character "ï" at character 25');
    const dir = tempDir();
    const req = join(dir, 'req.json');
    writeFileSync(req, JSON.stringify({ jobId: 'j', imageUrls: [realFixture('i_3001a.ntf')], imageProcessor: { name: `${server.url}/invocations`, type: 'HTTP_ENDPOINT' }, imageProcessorParameters: { CustomAttributes: 'a=1\r\nInjected: yes' } }));
    const fromRequest = await runCli(['run', '--request', req, '--out', join(dir, 'o.geojson')]);
    expect(fromRequest.code).toBe(1);
    expect(fromRequest.stderr).toContain(`--request ${req} imageProcessorParameters.CustomAttributes: contains a carriage return at character 4`);
    expect(readdirSync(dir)).toEqual(['req.json']);
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

describe('options that size resources or set timers have upper bounds (exit 1 before any work)', () => {
  // Tile worker threads: 4 per core, at most 64 (src/util/limits.ts); timers: 24 h, far below Node's 2^31-1 ms.
  const cores = availableParallelism();
  const maxWorkers = Math.min(4 * cores, 64);

  it('refuses --workers, --timeout, --quality, --tile-size and --retries above their bounds, naming the option and the bound', async () => {
    const out = join(tempDir(), 'never.geojson');
    const cases: Array<[string[], string]> = [
      [['--workers', '1000'], `--workers must be an integer from 1 to ${maxWorkers} (4 × the ${cores} cores, at most 64), got "1000"`],
      [['--workers', String(maxWorkers + 1)], `--workers must be an integer from 1 to ${maxWorkers} `],
      // 2147484 s is the first value whose milliseconds overflow a Node timer (2^31-1 ms = 2147483.647 s)
      [['--timeout', '2147484'], '--timeout must be an integer from 1 to 86400 (24 h), got "2147484"'],
      [['--timeout', '86401'], '--timeout must be an integer from 1 to 86400 (24 h), got "86401"'],
      [['--quality', '101'], '--quality must be an integer from 1 to 100, got "101"'],
      [['--tile-size', '8193'], '--tile-size must be an integer from 1 to 8192, got "8193"'],
      // 10 attempts per tile at most, as the service (TESSERA_MODEL_RETRIES) and the SageMaker detector
      [['--retries', '10'], '--retries must be an integer from 0 to 9 (at most 10 model attempts per tile), got "10"'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), ...args, '--no-progress', '--out', out]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain('tiles,');
    }
    // The same bound on a request file's tile size (the service refuses it too).
    const req = join(tempDir(), 'big-tiles.json');
    writeFileSync(req, JSON.stringify({ jobId: 'j', imageUrls: [realFixture('i_3001a.ntf')], imageProcessor: { name: `${server.url}/invocations`, type: 'HTTP_ENDPOINT' }, imageProcessorTileSize: 10000 }));
    const big = await runCli(['run', '--request', req, '--out', out]);
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('imageProcessorTileSize: must be at most 8192 pixels');
    expect(existsSync(out)).toBe(false);
  });

  it('the bounds themselves are accepted: the most workers allowed and a 24 h timeout process the image', async () => {
    const out = join(tempDir(), 'bounds.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--workers', String(maxWorkers), '--timeout', '86400', '--no-progress', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    // i_3001a is 1024²: 512/128 tiles give a 3 x 3 grid, centerpoint one detection each, none overlapping
    expect(JSON.parse(readFileSync(out, 'utf8')).features).toHaveLength(9);
  });

  it('SIGTERM while the tile workers are still starting ends the run at once (it dies of the signal, no output)', async () => {
    const dir = tempDir();
    const out = join(dir, 'never.geojson');
    const child = spawn(process.execPath, [cliPath, 'run', realFixture('i_3001a.ntf'), '--model', 'builtin:centerpoint', '--custom-attributes', 'mock_latency_mean=5000', '--workers', String(maxWorkers), '--no-progress', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TESSERA_LOG_LEVEL: 'info' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    // Logged right before the pool starts its threads (src/service/local-run.ts).
    while (!stderr.includes('"msg":"starting tile workers"') && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const { code, signal } = await closed;
    // process.exit() would wait for every starting worker thread (seconds) and report code 143 instead.
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(stderr).toContain('SIGTERM: stopped; ');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('plan-time warnings', () => {
  it('a tiling that covers each pixel many times is warned about in one line, with the tile count and the factor', async () => {
    // 16x16 image, tiles of 7 with overlap 6: stride 1, (16 - 7) + 1 = 10 tiles per axis, 100 × 49 / 256 = 19.1 times
    const out = join(tempDir(), 'crowded.geojson');
    const r = await runCli(['run', realFixture('nitf21-multisegment-2img-1txt-1des.ntf'), ...model(), '--tile-size', '7', '--overlap', '6', '--no-progress', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.includes('the tiling makes'));
    expect(lines).toEqual(['tessera: warning: the tiling makes 100 tiles, covering each pixel 19 times on average (more than 16): the overlap is close to the tile size; a smaller overlap gives far fewer tiles']);
    expect(r.stderr).toContain('100 tiles, 0 failed');
    expect(JSON.parse(readFileSync(out, 'utf8')).tesseraMetadata.warnings).toContain(lines[0].replace('tessera: warning: ', ''));
    // The default tiling of the same image says nothing of the kind.
    const normal = await runCli(['run', realFixture('nitf21-multisegment-2img-1txt-1des.ntf'), ...model(), '--no-progress', '--out', out]);
    expect(normal.code, normal.stderr).toBe(0);
    expect(normal.stderr).not.toContain('the tiling makes');
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
    // 512x512 8-bit NITF tiles are ~262 KB uncompressed; a 0.1 MB limit fails all 9 tiles: nothing processed.
    const out = join(tempDir(), 'payload.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--max-payload-mb', '0.1', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${realFixture('i_3001a.ntf')}: all 9 tiles failed, no output written; every tile the same way`);
    expect(r.stderr).toMatch(/encoded NITF tile is 0\.25 MB, over the model's 0\.10 MB payload limit; would fit: a tile size of about \d+ or less, JPEG tiles/);
    expect(existsSync(out)).toBe(false);
    // PNG tiles have no compression to choose: the hint must not offer one.
    const png = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--tile-format', 'PNG', '--max-payload-mb', '0.01', '--out', out]);
    expect(png.code).toBe(1);
    expect(png.stderr).toMatch(/encoded PNG tile is 0\.\d\d MB, over the model's 0\.01 MB payload limit; would fit: a tile size of about \d+ or less, JPEG tiles \(--tile-format JPEG\) \(or raise --max-payload-mb\)/);
    expect(png.stderr).not.toMatch(/compression/i);
  });
});

/** A loopback model answering every request with `answer(n)` (n counts requests from 1). */
async function fakeModel(answer: (n: number) => { status: number; type?: string; body: string }): Promise<{ url: string; close(): Promise<void> }> {
  let n = 0;
  const fake = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = answer(++n);
      res.writeHead(a.status, { 'content-type': a.type ?? 'text/plain' });
      res.end(a.body);
    });
  });
  await new Promise<void>((res) => fake.listen(0, '127.0.0.1', res));
  return { url: `http://127.0.0.1:${(fake.address() as { port: number }).port}/invocations`, close: () => new Promise<void>((res) => fake.close(() => res())) };
}

describe('no tile succeeded: exit 1, one message with the most common failure, an earlier output untouched', () => {
  const earlier = '{"type": "FeatureCollection", "features": [], "earlier": true}';

  it('a model that always answers 500', async () => {
    const fake = await fakeModel(() => ({ status: 500, body: 'internal trouble' }));
    try {
      const dir = tempDir();
      const out = join(dir, 'keep.geojson');
      writeFileSync(out, earlier);
      const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', fake.url, '--retries', '0', '--no-progress', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^tessera: error: ${realFixture('i_3001a.ntf')}: all 9 tiles failed, no output written; every tile the same way, e\\.g\\. tile \\(\\d+, \\d+\\)\\(512, 512\\): model returned HTTP 500`));
      expect(r.stderr).toContain('internal trouble');
      expect(readFileSync(out, 'utf8')).toBe(earlier);
      expect(readdirSync(dir)).toEqual(['keep.geojson']);
    } finally {
      await fake.close();
    }
  });

  it('a truncated image: every read fails', async () => {
    // The header (1024x1024, 8-bit, uncompressed) survives in the first 5000 bytes; the pixels do not.
    const dir = tempDir();
    const image = join(dir, 't.ntf');
    writeFileSync(image, readFileSync(realFixture('i_3001a.ntf')).subarray(0, 5000));
    const out = join(dir, 'keep.geojson');
    writeFileSync(out, earlier);
    const r = await runCli(['run', image, ...model(), '--no-progress', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`tessera: error: ${image}: all 9 tiles failed, no output written; every tile the same way, e.g. tile (`);
    expect(r.stderr).toMatch(/: reading \S+t\.ntf at row \d+, column \d+ \(512x512 pixels\) failed: /);
    expect(readFileSync(out, 'utf8')).toBe(earlier);
    expect(readdirSync(dir).sort()).toEqual(['keep.geojson', 't.ntf']);
  });

  it('different failures: the most common one is named, with its count', async () => {
    // Every third request gets HTML (3 of 9 tiles), the others 503: 6 of 9 tiles failed with the same status.
    const fake = await fakeModel((n) => (n % 3 === 0 ? { status: 200, type: 'text/html', body: '<html>oops</html>' } : { status: 503, body: 'busy' }));
    try {
      const out = join(tempDir(), 'never.geojson');
      const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', fake.url, '--retries', '0', '--no-progress', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/all 9 tiles failed, no output written; most often \(6 of 9 tiles\), e\.g\. tile \(\d+, \d+\)\(512, 512\): model returned HTTP 503/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await fake.close();
    }
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

  it('an output folder that refuses new files fails before any tile, naming the path as the user gave it', async () => {
    // As root, access() says /sys is writable but creating a file there fails (EACCES); as another user access() says no.
    const sys = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--out', '/sys/foo.geojson']);
    expect(sys.code).toBe(1);
    expect(sys.stderr).toMatch(/tessera: error: --out \/sys\/foo\.geojson: (cannot create a file in folder \/sys|folder \/sys is not writable) \(E[A-Z]+\)/);
    expect(sys.stderr).not.toContain('.tmp');
    expect(sys.stderr).not.toContain('tiles,');
    // A request file's File output is named as such, not as --out.
    const dir = tempDir();
    const req = join(dir, 'req.json');
    const missing = join(dir, 'missing', 'x.geojson');
    writeFileSync(req, JSON.stringify({ jobId: 'j', imageUrls: [realFixture('i_3001a.ntf')], imageProcessor: { name: `${server.url}/invocations`, type: 'HTTP_ENDPOINT' }, outputs: [{ type: 'File', path: missing }] }));
    const fromRequest = await runCli(['run', '--request', req]);
    expect(fromRequest.code).toBe(1);
    expect(fromRequest.stderr).toContain(`tessera: error: --request ${req} outputs[0].path ${missing}: folder ${join(dir, 'missing')} does not exist`);
    expect(fromRequest.stderr).not.toContain('--out');
    // The default output, <image name>.geojson, goes in the current folder.
    const cwd = tempDir();
    const ok = await runCli(['run', realFixture('i_3001a.ntf'), ...model(), '--no-progress'], { cwd });
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(cwd)).toEqual(['i_3001a.geojson']);
  });

  it('an interrupted run says so, dies of SIGINT (status 130 in a shell) and leaves no output and no temporary file', async () => {
    const dir = tempDir();
    const out = join(dir, 'interrupted.geojson');
    // Each tile takes the built-in model ~5 s, so the run is still working when it is interrupted.
    const child = spawn(process.execPath, [cliPath, 'run', realFixture('i_3001a.ntf'), '--model', 'builtin:centerpoint', '--custom-attributes', 'mock_latency_mean=5000', '--no-progress', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    expect(ended).toEqual({ code: null, signal: 'SIGINT' });
    expect(stderr).toContain('SIGINT: stopped;');
    expect(stderr).toContain('i_3001a.ntf not processed, no output written');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('interrupted after some tiles were stored, it removes the features it spilled to a temporary folder', async () => {
    // The first 3 tiles are answered at once (their features go to the spill file), the others never.
    let answered = 0;
    const held: Array<() => void> = [];
    const model = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (answered++ < 3) res.end(JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [1, 1, 5, 5] } }] }));
        else held.push(() => res.destroy());
      });
    });
    await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
    const tmp = tempDir();
    try {
      const url = `http://127.0.0.1:${(model.address() as { port: number }).port}/invocations`;
      const child = spawn(process.execPath, [cliPath, 'run', realFixture('i_3001a.ntf'), '--model', url, '--no-progress', '--out', join(tempDir(), 'x.geojson')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
      for (let i = 0; i < 200 && !(answered > 3 && readdirSync(tmp).some((f) => f.startsWith('tessera-features-'))); i++) await new Promise((r) => setTimeout(r, 50));
      expect(readdirSync(tmp).filter((f) => f.startsWith('tessera-features-'))).toHaveLength(1);
      child.kill('SIGINT');
      await new Promise((resolve) => child.on('close', resolve));
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      for (const release of held) release();
      await new Promise<void>((r) => model.close(() => r()));
    }
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
