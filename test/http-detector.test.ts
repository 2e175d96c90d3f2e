import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetectorError, HttpDetector } from '../src/detectors/http-detector.js';
import { backoffDelayMs, parseRetryAfterMs, retryDelayMs } from '../src/detectors/retry-policy.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';

const LABEL = 'tile (0, 512)(512, 512)';
const FAST = { backoffBaseMs: 5, backoffMaxMs: 20 };

interface ReceivedRequest {
  at: number;
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  bodyLength: number;
}

/** A small scripted endpoint: `answer` gets the 0-based request index and writes the response. */
async function startScriptedServer(answer: (index: number, response: ServerResponse) => void) {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const bodyLength = Buffer.concat(chunks).length;
      received.push({ at: Date.now(), method: request.method, url: request.url, headers: request.headers, bodyLength });
      answer(received.length - 1, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/invocations`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  response.end(body);
}

const COLLECTION = JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {} }] });

async function detectError(detector: HttpDetector, tile: Uint8Array): Promise<DetectorError> {
  const error = await detector.detect(tile, { tileLabel: LABEL }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DetectorError);
  return error as DetectorError;
}

/** A port nothing listens on: bind one, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const TILE = new Uint8Array([1, 2, 3, 4, 5]);

function solidPng(background: { r: number; g: number; b: number }, size = 64): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background } }).png().toBuffer();
}

describe('retry policy', () => {
  it('parses Retry-After seconds and HTTP dates', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfterMs('2', now)).toBe(2000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:03 GMT', now)).toBe(3000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    const settings = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelayMs(1, settings, () => 0)).toBe(50);
    expect(backoffDelayMs(3, settings, () => 1)).toBe(400);
    expect(backoffDelayMs(10, settings, () => 1)).toBe(1000);
    expect(retryDelayMs(1, 3_600_000, settings)).toBe(1000);
    expect(retryDelayMs(1, 300, settings)).toBe(300);
  });
});

describe('HttpDetector against the model server', () => {
  let server: ModelServer;
  let tile: Buffer;

  beforeAll(async () => {
    server = await startModelServer({ env: { FAILURE_TIMEOUT_MS: '20' } });
    tile = await solidPng({ r: 90, g: 90, b: 90 }, 512);
  });
  afterAll(() => server.close());

  const failureDetector = () =>
    new HttpDetector({ url: `${server.url}/invocations`, customAttributes: 'model_selection=failure' });

  it('returns the centerpoint feature in one attempt (SageMaker path, CustomAttributes)', async () => {
    const detector = new HttpDetector({
      url: `${server.url}/endpoints/centerpoint/invocations`,
      customAttributes: 'model_selection=centerpoint',
    });
    try {
      const result = await detector.detect(tile, { tileLabel: LABEL });
      expect(result.attempts).toBe(1);
      expect(result.features).toHaveLength(1);
      expect((result.features[0] as any).properties.imageBBox).toEqual([204.8, 204.8, 307.2, 307.2]);
      // the keep-alive pool serves further tiles
      const more = await Promise.all([1, 2, 3].map(() => detector.detect(tile, { tileLabel: LABEL })));
      expect(more.map((result) => result.features.length)).toEqual([1, 1, 1]);
    } finally {
      await detector.close();
    }
  });

  it('a FeatureCollection without features (failure model, purple) is a no-features error', async () => {
    const purple = await solidPng({ r: 250, g: 0, b: 250 });
    const detector = failureDetector();
    try {
      const error = await detectError(detector, purple);
      expect(error.kind).toBe('no-features');
      expect(error.status).toBe(200);
      expect(error.attempts).toBe(1);
      expect(error.message).toContain(LABEL);
      expect(error.message).toContain('invalid_key');
    } finally {
      await detector.close();
    }
  });

  it('malformed JSON (failure model, green) is a not-json error', async () => {
    const green = await solidPng({ r: 0, g: 250, b: 0 });
    const detector = failureDetector();
    try {
      const error = await detectError(detector, green);
      expect(error.kind).toBe('not-json');
      expect(error.message).toContain('[invalid}');
    } finally {
      await detector.close();
    }
  });

  it('408 (failure model, blue) is retried, then reported', async () => {
    const blue = await solidPng({ r: 0, g: 0, b: 250 });
    const detector = new HttpDetector({
      url: `${server.url}/invocations`,
      customAttributes: 'model_selection=failure',
      maxRetries: 2,
      ...FAST,
    });
    try {
      const error = await detectError(detector, blue);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(408);
      expect(error.attempts).toBe(3);
      expect(error.message).toBe(`${LABEL}: model returned HTTP 408 after 3 attempts: "Request timeout"`);
    } finally {
      await detector.close();
    }
  });

  it('a 400 from the model (unknown selection) is not retried', async () => {
    const detector = new HttpDetector({ url: `${server.url}/invocations`, customAttributes: 'model_selection=nope' });
    try {
      const error = await detectError(detector, tile);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(400);
      expect(error.attempts).toBe(1);
      expect(error.message).toContain('Invalid or missing model selection');
    } finally {
      await detector.close();
    }
  });
});

describe('HttpDetector against scripted servers', () => {
  it('sends the raw bytes with the expected headers', async () => {
    const endpoint = await startScriptedServer((_, response) => send(response, 200, COLLECTION));
    const detector = new HttpDetector({
      url: endpoint.url,
      customAttributes: 'model_selection=flood,flood_volume=3',
      headers: { 'X-Extra': 'yes' },
    });
    try {
      const result = await detector.detect(TILE, { tileLabel: LABEL });
      expect(result).toEqual({ features: [{ type: 'Feature', properties: {} }], attempts: 1 });
      const [request] = endpoint.received;
      expect(request!.method).toBe('POST');
      expect(request!.url).toBe('/invocations');
      expect(request!.bodyLength).toBe(TILE.length);
      expect(request!.headers['content-type']).toBe('application/octet-stream');
      expect(request!.headers['x-amzn-sagemaker-custom-attributes']).toBe('model_selection=flood,flood_volume=3');
      expect(request!.headers['x-extra']).toBe('yes');
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('500 then success: retried and attempts counted', async () => {
    const endpoint = await startScriptedServer((index, response) =>
      index < 2 ? send(response, 500, 'Unable to process request.') : send(response, 200, COLLECTION),
    );
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      const result = await detector.detect(TILE, { tileLabel: LABEL });
      expect(result.attempts).toBe(3);
      expect(result.features).toHaveLength(1);
      expect(endpoint.received).toHaveLength(3);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('persistent 500: reported with status, attempts and body excerpt', async () => {
    const endpoint = await startScriptedServer((_, response) => send(response, 500, 'Unable to process request.'));
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(500);
      expect(error.attempts).toBe(6);
      expect(error.message).toBe(`${LABEL}: model returned HTTP 500 after 6 attempts: "Unable to process request."`);
      expect(endpoint.received).toHaveLength(6);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('429 with Retry-After is honoured', async () => {
    const endpoint = await startScriptedServer((index, response) =>
      index === 0 ? send(response, 429, 'slow down', { 'Retry-After': '1' }) : send(response, 200, COLLECTION),
    );
    const detector = new HttpDetector({ url: endpoint.url, backoffBaseMs: 1, backoffMaxMs: 5000 });
    try {
      const result = await detector.detect(TILE, { tileLabel: LABEL });
      expect(result.attempts).toBe(2);
      const [first, second] = endpoint.received;
      // loose sanity only: the 1 ms back-off was replaced by the server's 1 s
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(800);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('400 is not retried and is reported', async () => {
    const endpoint = await startScriptedServer((_, response) => send(response, 400, 'bad tile'));
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(400);
      expect(error.attempts).toBe(1);
      expect(error.message).toBe(`${LABEL}: model returned HTTP 400 after 1 attempt: "bad tile"`);
      expect(endpoint.received).toHaveLength(1);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('a 200 with a non-JSON body is a not-json error (not retried)', async () => {
    const endpoint = await startScriptedServer((_, response) => send(response, 200, '<html>oops</html>'));
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('not-json');
      expect(error.status).toBe(200);
      expect(error.attempts).toBe(1);
      expect(error.message).toContain(LABEL);
      expect(error.message).toContain('"<html>oops</html>"');
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('JSON that is not a FeatureCollection is an error', async () => {
    const endpoint = await startScriptedServer((index, response) =>
      send(response, 200, index === 0 ? '[1, 2]' : JSON.stringify({ type: 'Feature', properties: {} })),
    );
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      expect((await detectError(detector, TILE)).kind).toBe('not-feature-collection');
      expect((await detectError(detector, TILE)).kind).toBe('not-feature-collection');
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('an answer with more features than a tile may hold fails the tile (not retried); the limit itself passes', async () => {
    const feature = { type: 'Feature', geometry: null, properties: { imageBBox: [1, 1, 2, 2] } };
    const collection = (n: number) => JSON.stringify({ type: 'FeatureCollection', features: Array.from({ length: n }, () => feature) });
    const endpoint = await startScriptedServer((index, response) => send(response, 200, collection(index === 0 ? 11 : 10)));
    const detector = new HttpDetector({ url: endpoint.url, ...FAST, maxFeatures: 10 });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('too-many-features');
      expect(error.attempts).toBe(1);
      expect(error.message).toContain(`${LABEL}: model returned HTTP 200 with 11 features; a tile may hold at most 10`);
      expect((await detector.detect(TILE, { tileLabel: LABEL })).features).toHaveLength(10);
      expect(endpoint.received).toHaveLength(2);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('a body over the response limit fails the tile without being read, declared or not (chunked)', async () => {
    const limit = 64 * 1024;
    let sentWhenDropped = -1;
    const endpoint = await startScriptedServer((index, response) => {
      if (index === 0) {
        // Declared too large: refused on the header alone.
        response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(limit + 1) });
        response.end('x'.repeat(limit + 1));
        return;
      }
      // Chunked (no length): counted as it arrives, cut off once past the limit although it would go on for 64 MB (more than loopback socket buffers take in).
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write('{"type":"FeatureCollection","features":[');
      let sent = 0;
      const more = () => {
        while (sent < 64 * 2 ** 20) {
          sent += 1024;
          if (!response.write(`${'{"type":"Feature"},'.repeat(53)}`)) return void response.once('drain', more);
        }
        response.end('{}]}');
      };
      response.on('close', () => {
        sentWhenDropped = sent;
        sent = Infinity;
      });
      more();
    });
    const detector = new HttpDetector({ url: endpoint.url, ...FAST, maxResponseBytes: limit });
    try {
      const declared = await detectError(detector, TILE);
      expect(declared.kind).toBe('response-too-large');
      expect(declared.attempts).toBe(1);
      expect(declared.message).toContain(`${LABEL}: model returned HTTP 200 with a body of ${limit + 1} bytes, more than the ${limit} bytes a tile's answer may have`);
      const chunked = await detectError(detector, TILE);
      expect(chunked.kind).toBe('response-too-large');
      expect(chunked.message).toContain(`with a body of more than the ${limit} bytes a tile's answer may have: "{\\"type\\":\\"FeatureCollection\\",\\"features\\":[`);
      expect(endpoint.received).toHaveLength(2);
      // The client dropped the connection long before the 64 MB were sent.
      await expect.poll(() => sentWhenDropped).toBeGreaterThan(0);
      expect(sentWhenDropped).toBeLessThan(64 * 2 ** 20);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('connection refused: retried, then a clear connection error', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/invocations`;
    const detector = new HttpDetector({ url, maxRetries: 2, ...FAST });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('connection');
      expect(error.attempts).toBe(3);
      expect(error.status).toBeUndefined();
      expect(error.message).toContain(LABEL);
      expect(error.message).toContain(url);
      expect(error.message).toContain('ECONNREFUSED');
    } finally {
      await detector.close();
    }
  });

  it('a server that never answers: timeout, retried, then a timeout error', async () => {
    const endpoint = await startScriptedServer(() => {
      /* hold the request open */
    });
    const detector = new HttpDetector({ url: endpoint.url, timeoutMs: 100, maxRetries: 1, ...FAST });
    try {
      const error = await detectError(detector, TILE);
      expect(error.kind).toBe('timeout');
      expect(error.attempts).toBe(2);
      expect(error.message).toBe(`${LABEL}: model at ${endpoint.url} did not answer within 100 ms after 2 attempts`);
      expect(endpoint.received).toHaveLength(2);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('a dropped connection (reset) is retried', async () => {
    const endpoint = await startScriptedServer((index, response) =>
      index === 0 ? response.socket?.destroy() : send(response, 200, COLLECTION),
    );
    const detector = new HttpDetector({ url: endpoint.url, ...FAST });
    try {
      const result = await detector.detect(TILE, { tileLabel: LABEL });
      expect(result.attempts).toBe(2);
    } finally {
      await detector.close();
      await endpoint.close();
    }
  });

  it('close() stops a detector that is waiting to retry', async () => {
    const endpoint = await startScriptedServer((_, response) => send(response, 503, 'busy', { 'Retry-After': '30' }));
    const detector = new HttpDetector({ url: endpoint.url, backoffMaxMs: 30_000 });
    try {
      const pending = detectError(detector, TILE);
      while (endpoint.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await detector.close();
      const error = await pending;
      expect(error.kind).toBe('connection');
      expect(error.message).toContain('closed');
      await detector.close(); // idempotent
      expect((await detectError(detector, TILE)).kind).toBe('connection');
    } finally {
      await endpoint.close();
    }
  });
});
