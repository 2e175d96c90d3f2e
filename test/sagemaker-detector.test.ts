/**
 * SageMakerDetector against real loopback servers that speak the SageMaker runtime InvokeEndpoint REST protocol
 * (POST /endpoints/{name}/invocations, X-Amzn-SageMaker-* headers): Tessera's model server, and a small scripted
 * server that records what the SDK sent. Nothing leaves 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetectorError } from '../src/detectors/detector-error.js';
import { filterInvokeParameters, SageMakerDetector, type SageMakerDetectorOptions } from '../src/detectors/sagemaker-detector.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { MAX_FEATURES_PER_TILE, MAX_MODEL_RESPONSE_BYTES } from '../src/util/limits.js';

const LABEL = 'tile (0, 0)(512, 512)';
const CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
const COLLECTION = JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {} }] });

interface Received {
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

async function startRecordingServer(answer: (index: number, response: ServerResponse) => void) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) });
      answer(received.length - 1, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function detector(endpoint: string, extra: Partial<SageMakerDetectorOptions> = {}) {
  return new SageMakerDetector({ endpointName: 'my-endpoint', region: 'us-west-2', endpoint, credentials: CREDENTIALS, timeoutMs: 2000, maxAttempts: 3, ...extra });
}

async function detectError(d: SageMakerDetector, tile: Uint8Array): Promise<DetectorError> {
  const error = await d.detect(tile, { tileLabel: LABEL }).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DetectorError);
  return error as DetectorError;
}

const TILE = new Uint8Array([1, 2, 3, 4, 5]);

describe('SageMakerDetector against the model server', () => {
  let server: ModelServer;
  let tile: Buffer;
  beforeAll(async () => {
    server = await startModelServer({ port: 0 });
    tile = await sharp({ create: { width: 512, height: 512, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();
  });
  afterAll(() => server.close());

  it('invokes the endpoint and returns the centerpoint feature (CustomAttributes selects the model)', async () => {
    const d = detector(server.url, { parameters: { CustomAttributes: 'model_selection=centerpoint' } });
    try {
      const result = await d.detect(tile, { tileLabel: LABEL });
      expect(result.attempts).toBe(1);
      expect(result.features).toHaveLength(1);
      expect((result.features[0] as any).properties.imageBBox).toEqual([204.8, 204.8, 307.2, 307.2]);
    } finally {
      await d.close();
    }
  });
});

describe('SageMakerDetector protocol details', () => {
  it('POSTs the tile to /endpoints/{name}/invocations with the parameters as X-Amzn-SageMaker-* headers', async () => {
    const rec = await startRecordingServer((_, r) => { r.writeHead(200, { 'Content-Type': 'application/json' }); r.end(COLLECTION); });
    const warnings: string[] = [];
    const d = detector(rec.url, {
      parameters: {
        CustomAttributes: 'model_selection=flood,flood_volume=3',
        TargetVariant: 'variant-b',
        TargetModel: 'model-7.tar.gz',
        InferenceComponentName: 'ic-1',
        InferenceId: 'inf-42',
        Accept: 'application/json',
        Bogus: 'x',
        TargetContainerHostname: 7,
      },
      warn: (m) => warnings.push(m),
    });
    try {
      const result = await d.detect(TILE, { tileLabel: LABEL });
      expect(result.features).toHaveLength(1);
      expect(rec.received).toHaveLength(1);
      const [req] = rec.received;
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/endpoints/my-endpoint/invocations');
      expect([...req.body]).toEqual([...TILE]);
      expect(req.headers['content-type']).toBe('application/octet-stream');
      expect(req.headers['accept']).toBe('application/json');
      expect(req.headers['x-amzn-sagemaker-custom-attributes']).toBe('model_selection=flood,flood_volume=3');
      expect(req.headers['x-amzn-sagemaker-target-variant']).toBe('variant-b');
      expect(req.headers['x-amzn-sagemaker-target-model']).toBe('model-7.tar.gz');
      expect(req.headers['x-amzn-sagemaker-inference-component']).toBe('ic-1');
      expect(req.headers['x-amzn-sagemaker-inference-id']).toBe('inf-42');
      expect(req.headers['x-amzn-sagemaker-target-container-hostname']).toBeUndefined();
      expect(req.headers['bogus']).toBeUndefined();
      expect(req.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDLOCAL\/\d{8}\/us-west-2\/sagemaker\/aws4_request/);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('Bogus (not an InvokeEndpoint parameter)');
      expect(warnings[0]).toContain('TargetContainerHostname (not a string)');
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('filters parameters to InvokeEndpoint\'s own', () => {
    expect(filterInvokeParameters({ SessionId: 's', EnableExplanations: '`true`', X: 'y' })).toEqual({
      kept: { SessionId: 's', EnableExplanations: '`true`' },
      dropped: ['X (not an InvokeEndpoint parameter)'],
    });
  });

  it('retries a 500 with the SDK retry strategy, then fails with a DetectorError', async () => {
    const rec = await startRecordingServer((_, r) => { r.writeHead(500, { 'Content-Type': 'application/json' }); r.end('{"message":"boom"}'); });
    const d = detector(rec.url, { maxAttempts: 3 });
    try {
      const error = await detectError(d, TILE);
      expect(rec.received).toHaveLength(3);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(500);
      expect(error.attempts).toBe(3);
      expect(error.message).toContain(LABEL);
      expect(error.message).toContain('3 attempts');
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('succeeds after a transient 503', async () => {
    const rec = await startRecordingServer((i, r) => {
      r.writeHead(i === 0 ? 503 : 200, { 'Content-Type': 'application/json' });
      r.end(i === 0 ? '{"message":"busy"}' : COLLECTION);
    });
    const d = detector(rec.url);
    try {
      const result = await d.detect(TILE, { tileLabel: LABEL });
      expect(result.attempts).toBe(2);
      expect(rec.received).toHaveLength(2);
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('does not retry a ModelError (424) and reports the model status and message', async () => {
    const rec = await startRecordingServer((_, r) => {
      r.writeHead(424, { 'Content-Type': 'application/json', 'x-amzn-errortype': 'ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/' });
      r.end(JSON.stringify({ OriginalStatusCode: 400, OriginalMessage: 'cannot decode tile', Message: 'Received client error (400) from model' }));
    });
    const d = detector(rec.url);
    try {
      const error = await detectError(d, TILE);
      expect(rec.received).toHaveLength(1);
      expect(error.kind).toBe('http-status');
      expect(error.status).toBe(424);
      expect(error.attempts).toBe(1);
      expect(error.message).toContain('ModelError');
      expect(error.message).toContain('cannot decode tile');
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('does not retry a ValidationError (400)', async () => {
    const rec = await startRecordingServer((_, r) => {
      r.writeHead(400, { 'Content-Type': 'application/json', 'x-amzn-errortype': 'ValidationError' });
      r.end(JSON.stringify({ message: 'Endpoint my-endpoint not found' }));
    });
    const d = detector(rec.url);
    try {
      const error = await detectError(d, TILE);
      expect(rec.received).toHaveLength(1);
      expect(error.status).toBe(400);
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('rejects a 200 answer that is not a FeatureCollection with features, as the HTTP detector does', async () => {
    const rec = await startRecordingServer((i, r) => {
      r.writeHead(200, { 'Content-Type': 'application/json' });
      r.end(i === 0 ? 'not json' : '{"type":"FeatureCollection"}');
    });
    const d = detector(rec.url);
    try {
      expect((await detectError(d, TILE)).kind).toBe('not-json');
      expect((await detectError(d, TILE)).kind).toBe('no-features');
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('an answer over the response limit or with more features than a tile may hold fails the tile', async () => {
    const big = Buffer.alloc(MAX_MODEL_RESPONSE_BYTES + 1, 0x20);
    big.write('{"type":"FeatureCollection","features":[]}');
    const many = JSON.stringify({ type: 'FeatureCollection', features: Array.from({ length: MAX_FEATURES_PER_TILE + 1 }, () => ({})) });
    const rec = await startRecordingServer((i, r) => {
      r.writeHead(200, { 'Content-Type': 'application/json' });
      r.end(i === 0 ? big : many);
    });
    const d = detector(rec.url, { maxAttempts: 1 });
    try {
      const tooLarge = await detectError(d, TILE);
      expect(tooLarge.kind).toBe('response-too-large');
      expect(tooLarge.message).toContain(`with a body of ${MAX_MODEL_RESPONSE_BYTES + 1} bytes, more than the ${MAX_MODEL_RESPONSE_BYTES} bytes a tile's answer may have`);
      const tooMany = await detectError(d, TILE);
      expect(tooMany.kind).toBe('too-many-features');
      expect(tooMany.message).toContain(`with ${MAX_FEATURES_PER_TILE + 1} features; a tile may hold at most ${MAX_FEATURES_PER_TILE}`);
    } finally {
      await d.close();
      await rec.close();
    }
  });

  it('signs with the credentials of the assumed role (STS AssumeRole on a loopback STS)', async () => {
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    const sts = await startRecordingServer((_, r) => {
      r.writeHead(200, { 'Content-Type': 'text/xml' });
      r.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>
<Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/model/AWSOversightMLModelRunner</Arn>
<AssumedRoleId>AROA:AWSOversightMLModelRunner</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`);
    });
    const rec = await startRecordingServer((_, r) => { r.writeHead(200, { 'Content-Type': 'application/json' }); r.end(COLLECTION); });
    const d = detector(rec.url, { assumedRole: 'arn:aws:iam::123456789012:role/model', stsEndpoint: sts.url });
    try {
      await d.detect(TILE, { tileLabel: LABEL });
      await d.detect(TILE, { tileLabel: LABEL });
      expect(sts.received).toHaveLength(1); // cached until close to expiry
      const form = new URLSearchParams(sts.received[0].body.toString());
      expect(form.get('Action')).toBe('AssumeRole');
      expect(form.get('RoleArn')).toBe('arn:aws:iam::123456789012:role/model');
      expect(form.get('RoleSessionName')).toBe('AWSOversightMLModelRunner');
      expect(sts.received[0].headers.authorization).toContain('Credential=AKIDLOCAL/');
      expect(rec.received[0].headers.authorization).toContain('Credential=ASIAASSUMED/');
      expect(rec.received[0].headers['x-amz-security-token']).toBe('assumed-token');
    } finally {
      await d.close();
      await rec.close();
      await sts.close();
    }
  });

  it('times out an endpoint that never answers', async () => {
    const rec = await startRecordingServer(() => { /* never answers */ });
    const d = detector(rec.url, { timeoutMs: 300, maxAttempts: 2 });
    const started = Date.now();
    try {
      const error = await detectError(d, TILE);
      expect(error.kind).toBe('timeout');
      expect(error.message).toContain('300 ms');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await d.close();
      await rec.close();
    }
  });
});
