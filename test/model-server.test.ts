import gdal from 'gdal-async';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { centerBBox, centerPolygon } from '../src/model-server/models/centerpoint.js';
import { dominantColor } from '../src/model-server/models/failure.js';
import { floodDetections } from '../src/model-server/models/flood.js';
import { exactRound, pythonRound } from '../src/util/python-round.js';
import { seededRng } from '../src/model-server/random.js';

const ATTRIBUTES = 'X-Amzn-SageMaker-Custom-Attributes';

const RING_512 = [
  [281.6, 307.2],
  [259.4297, 294.4],
  [259.4297, 268.8],
  [281.6, 256.0],
  [303.7703, 268.8],
  [303.7703, 294.4],
  [281.6, 307.2],
  [281.6, 307.2],
];

type Rgb = { r: number; g: number; b: number };

function pngTile(width: number, height: number, background: Rgb = { r: 90, g: 90, b: 90 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
}

/** A tile written by GDAL in memory (GTiff or NITF), every band filled with `value`. */
function gdalTile(driver: 'GTiff' | 'NITF', width: number, height: number, bands: number, value = 90): Buffer {
  const path = `/vsimem/model-server-test-${driver}-${Math.random().toString(16).slice(2)}`;
  const dataset = gdal.open(path, 'w', driver, width, height, bands, 'Byte');
  const pixels = new Uint8Array(width * height).fill(value);
  for (let band = 1; band <= bands; band += 1) dataset.bands.get(band).pixels.write(0, 0, width, height, pixels);
  dataset.close();
  return gdal.vsimem.release(path);
}

async function invoke(server: ModelServer, body: Uint8Array, attributes?: string, path = '/invocations') {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body,
    headers: attributes === undefined ? {} : { [ATTRIBUTES]: attributes },
  });
  return { status: response.status, text: await response.text() };
}

async function invokeJson(server: ModelServer, body: Uint8Array, attributes?: string, path?: string) {
  const { status, text } = await invoke(server, body, attributes, path);
  expect(status, text).toBe(200);
  return JSON.parse(text) as { type: string; features: any[] };
}

describe('test model functions', () => {
  it('rounds like Python: exact binary value, ties to even', () => {
    expect(pythonRound(2.675, 2)).toBe(2.67); // 2.675 is slightly below in binary
    expect(pythonRound(0.125, 2)).toBe(0.12); // exact tie -> even
    expect(pythonRound(0.375, 2)).toBe(0.38);
    expect(pythonRound(2.5, 0)).toBe(2);
    expect(pythonRound(3.5, 0)).toBe(4);
    expect(pythonRound(-0.125, 2)).toBe(-0.12);
    expect(pythonRound(1.03125, 4)).toBe(1.0312);
    expect(pythonRound(9.99995, 4)).toBe(10); // carries into the integer part
    expect(pythonRound(259.42972413, 4)).toBe(259.4297);
  });

  it('the fast path agrees with the exact decimal expansion, near ties and far from them', () => {
    // Deterministic pseudo-random doubles: pixel-like, degree-like, tiny and huge, and values one ulp off a tie.
    let seed = 12345;
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const values: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const scale = [1, 1e-3, 180, 4096, 1e6, 1e12][i % 6];
      values.push((next() - 0.5) * 2 * scale);
      // k.5 / 10^n and its neighbours: exact ties (in binary only for some n) and the doubles next to them
      const n = i % 7, tie = (Math.floor(next() * 1e5) + 0.5) / 10 ** n;
      values.push(tie, tie * (1 + 2 ** -52), tie * (1 - 2 ** -52));
    }
    for (const x of values) for (const n of [0, 1, 2, 4, 6, 8]) expect(pythonRound(x, n), `round(${x}, ${n})`).toBe(exactRound(x, n));
  });

  it('centerpoint box and OSML hexagon ring for 512x512', () => {
    expect(centerBBox(512, 512, 0.1)).toEqual([204.8, 204.8, 307.2, 307.2]);
    expect(centerPolygon(512, 512, 0.1)).toEqual(RING_512);
  });

  it('failure colour from band means', () => {
    expect(dominantColor(3, [250.9, 10.2, 20])).toEqual([250, 10, 20]);
    expect(dominantColor(2, [210.5])).toEqual([210, 210, 210]);
    expect(dominantColor(1, [])).toEqual([0, 0, 0]);
  });

  it('flood boxes are inside non-square tiles and reproducible with a seeded rng', () => {
    const params = { bboxPercentage: 0.1, enableSegmentation: false, floodVolume: 50 };
    const collection = floodDetections(300, 200, params, seededRng(7));
    expect(collection.features).toHaveLength(50);
    for (const feature of collection.features) {
      const [minX, minY, maxX, maxY] = feature.properties.imageBBox;
      expect(maxX - minX).toBe(60);
      expect(maxY - minY).toBe(40);
      expect(minX).toBeGreaterThanOrEqual(0);
      expect(minY).toBeGreaterThanOrEqual(0);
      expect(maxX).toBeLessThanOrEqual(300);
      expect(maxY).toBeLessThanOrEqual(200);
    }
    expect(floodDetections(300, 200, params, seededRng(7))).toEqual(collection);
  });
});

describe('model server', () => {
  let server: ModelServer;
  let tile512: Buffer;

  beforeAll(async () => {
    server = await startModelServer({ port: 0, env: { DEFAULT_MODEL_SELECTION: 'centerpoint' } });
    tile512 = await pngTile(512, 512);
  });
  afterAll(() => server.close());

  it('listens on 127.0.0.1 and answers /ping', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const response = await fetch(`${server.url}/ping`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('\n');
  });

  it('unknown route -> 404, wrong method -> 405', async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/invocations`)).status).toBe(405);
  });

  it('centerpoint on a 512x512 PNG follows the OSML template', async () => {
    const collection = await invokeJson(server, tile512);
    expect(collection.type).toBe('FeatureCollection');
    expect(collection.features).toHaveLength(1);
    const [feature] = collection.features;
    expect(feature.type).toBe('Feature');
    expect(feature.geometry).toBeNull();
    expect(feature.id).toMatch(/^[0-9a-f]{32}$/);
    expect(feature.properties).toEqual({
      imageGeometry: { type: 'Point', coordinates: [0, 0] },
      imageBBox: [204.8, 204.8, 307.2, 307.2],
      featureClasses: [{ iri: 'sample_object', score: 1 }],
      modelMetadata: { modelName: 'centerpoint', ontologyName: 'centerpoint', ontologyVersion: '1.0.0' },
      image_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it('centerpoint reads GTiff and NITF tiles', async () => {
    for (const tile of [gdalTile('GTiff', 512, 512, 3), gdalTile('NITF', 512, 512, 1)]) {
      const collection = await invokeJson(server, tile);
      expect(collection.features[0].properties.imageBBox).toEqual([204.8, 204.8, 307.2, 307.2]);
    }
  });

  it('centerpoint on a 300x200 tile: centre (150, 100) -/+ (30, 20)', async () => {
    const collection = await invokeJson(server, await pngTile(300, 200));
    expect(collection.features[0].properties.imageBBox).toEqual([120, 80, 180, 120]);
  });

  it('the SageMaker runtime path is served too', async () => {
    const collection = await invokeJson(server, tile512, undefined, '/endpoints/my-endpoint/invocations');
    expect(collection.features[0].properties.imageBBox).toEqual([204.8, 204.8, 307.2, 307.2]);
  });

  it('garbage and empty payloads -> 400 "Unable to parse image from request!"', async () => {
    for (const body of [Buffer.from('definitely not an image'), Buffer.alloc(0)]) {
      const { status, text } = await invoke(server, body);
      expect(status).toBe(400);
      expect(text).toBe('Unable to parse image from request!');
    }
  });

  it('flood volume from CustomAttributes', async () => {
    const collection = await invokeJson(server, tile512, 'model_selection=flood, flood_volume=17');
    expect(collection.features).toHaveLength(17);
    for (const feature of collection.features) {
      const [minX, minY, maxX, maxY] = feature.properties.imageBBox;
      expect(Math.min(minX, minY)).toBeGreaterThanOrEqual(0);
      expect(Math.max(maxX, maxY)).toBeLessThanOrEqual(512);
      expect(maxX - minX).toBe(2 * Math.ceil(512 * 0.1));
      const [{ iri, score }] = feature.properties.featureClasses;
      expect(iri).toBe('sample_object');
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
      expect(feature.properties.modelMetadata.modelName).toBe('flood');
    }
    const byDefault = await invokeJson(server, tile512, 'model_selection=FLOOD');
    expect(byDefault.features).toHaveLength(100);
  });

  it('model selection: header wins, unknown -> 400 with OSML message', async () => {
    const { status, text } = await invoke(server, tile512, 'model_selection=yolo');
    expect(status).toBe(400);
    expect(text).toBe('Invalid or missing model selection. Supported values: centerpoint, flood, failure');
    const failure = await invokeJson(server, tile512, 'model_selection=failure');
    expect(failure.features[0].properties.featureClasses[0].iri).toBe('test_object');
  });

  it('latency simulation still answers normally', async () => {
    const collection = await invokeJson(server, tile512, 'mock_latency_mean=20,mock_latency_std=1');
    expect(collection.features).toHaveLength(1);
  });

  it('many simulated delays at once add no abort listeners (no MaxListenersExceededWarning); close() cuts them short', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const busy = await startModelServer({ env: { MODEL_SELECTION: 'centerpoint' } });
    try {
      // Node warns at the 11th listener on one EventTarget; tessera run keeps 16 or more tiles in flight.
      const answers = await Promise.all(Array.from({ length: 16 }, () => invokeJson(busy, tile512, 'mock_latency_mean=50,mock_latency_std=0')));
      expect(answers.map((a) => a.features.length)).toEqual(new Array(16).fill(1));
      await new Promise((r) => setTimeout(r, 10)); // warnings are emitted on a later tick
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
      const waiting = invoke(busy, tile512, 'mock_latency_mean=60000,mock_latency_std=0').then(() => 'answered', () => 'cut');
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await busy.close();
      expect(await waiting).toBe('cut');
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      process.off('warning', onWarning);
      await busy.close().catch(() => undefined);
    }
  });

  it('bodies above maxBodyBytes -> 413', async () => {
    const small = await startModelServer({ env: { MODEL_SELECTION: 'centerpoint' }, maxBodyBytes: 1024 });
    try {
      const { status } = await invoke(small, tile512);
      expect(status).toBe(413);
      // without Content-Length (chunked upload) the limit applies while reading
      const chunked = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i += 1) controller.enqueue(new Uint8Array(512));
          controller.close();
        },
      });
      const init = { method: 'POST', body: chunked, duplex: 'half' } as RequestInit;
      const response = await fetch(`${small.url}/invocations`, init);
      expect(response.status).toBe(413);
    } finally {
      await small.close();
    }
  });
});

describe('model server with segmentation and env defaults', () => {
  it('ENABLE_SEGMENTATION=true gives the exact OSML ring', async () => {
    const server = await startModelServer({ env: { MODEL_SELECTION: 'centerpoint', ENABLE_SEGMENTATION: 'True' } });
    try {
      const collection = await invokeJson(server, await pngTile(512, 512));
      expect(collection.features[0].properties.imageGeometry).toEqual({ type: 'Polygon', coordinates: [RING_512] });
      expect(collection.features[0].properties.imageBBox).toEqual([204.8, 204.8, 307.2, 307.2]);
    } finally {
      await server.close();
    }
  });

  it('no selection anywhere -> 400; DEFAULT_MODEL_SELECTION wins over MODEL_SELECTION', async () => {
    const none = await startModelServer({ env: {} });
    const both = await startModelServer({
      env: { DEFAULT_MODEL_SELECTION: 'Flood', MODEL_SELECTION: 'centerpoint', FLOOD_VOLUME: '3' },
    });
    try {
      const tile = await pngTile(64, 64);
      expect((await invoke(none, tile)).status).toBe(400);
      expect((await invokeJson(both, tile)).features).toHaveLength(3);
    } finally {
      await Promise.all([none.close(), both.close()]);
    }
  });
});

describe('failure model', () => {
  let server: ModelServer;
  beforeAll(async () => {
    server = await startModelServer({ env: { MODEL_SELECTION: 'failure', FAILURE_TIMEOUT_MS: '50' } });
  });
  afterAll(() => server.close());

  it('red -> 500', async () => {
    const { status, text } = await invoke(server, await pngTile(128, 128, { r: 250, g: 0, b: 0 }));
    expect(status).toBe(500);
    expect(text).toBe('Unable to process request.');
  });

  it('green -> 200 with malformed JSON', async () => {
    const { status, text } = await invoke(server, await pngTile(128, 128, { r: 0, g: 250, b: 0 }));
    expect(status).toBe(200);
    expect(() => JSON.parse(text)).toThrow();
  });

  it('purple -> 200 FeatureCollection with its list under invalid_key', async () => {
    const { status, text } = await invoke(server, await pngTile(128, 128, { r: 250, g: 0, b: 250 }));
    expect(status).toBe(200);
    const body = JSON.parse(text);
    expect(body.type).toBe('FeatureCollection');
    expect(body.features).toBeUndefined();
    expect(body.invalid_key).toHaveLength(1);
  });

  it('blue -> 408 after FAILURE_TIMEOUT_MS', async () => {
    const { status, text } = await invoke(server, await pngTile(128, 128, { r: 0, g: 0, b: 250 }));
    expect(status).toBe(408);
    expect(text).toBe('Request timeout');
  });

  it('grey, single-band and two-band tiles -> one test_object box', async () => {
    const tiles = [await pngTile(128, 128), gdalTile('GTiff', 64, 64, 1, 250), gdalTile('GTiff', 64, 64, 2, 120)];
    for (const tile of tiles) {
      const collection = await invokeJson(server, tile);
      expect(collection.features).toHaveLength(1);
      expect(collection.features[0].properties.imageBBox).toEqual([100, 100, 200, 200]);
      expect(collection.features[0].properties.featureClasses).toEqual([{ iri: 'test_object', score: 1 }]);
      expect(collection.features[0].properties.modelMetadata.modelName).toBe('failure');
    }
  });

  it('unreadable payload -> 500 "Unable to process request: ..." (OSML failure model wording)', async () => {
    const { status, text } = await invoke(server, Buffer.from('garbage'));
    expect(status).toBe(500);
    expect(text).toMatch(/^Unable to process request: /);
  });
});
