import { getEventListeners } from 'node:events';
// `tessera serve` configuration (OSML's environment names plus TESSERA_*), the service's request checks, the work
// gate, and the two CLI commands' start-up behaviour.
import { describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadServiceConfig, parseRegionSize } from '../src/service/config.js';
import { fieldOfProblem, imageJobFromRequest, parseServiceRequest } from '../src/service/image-job.js';
import { parseS3Url } from '../src/api/request-paths.js';
import { InvalidRequestError } from '../src/api/image-request.js';
import { servicePaths } from '../src/api/request-paths.js';
import { WorkGate } from '../src/service/service.js';
import { parseRegionRequest, InvalidRegionRequestError, regionIdOf } from '../src/service/region-request.js';
import { cliPath, repoRoot, runCli } from './helpers/cli.js';
import { memoryServiceContext } from './helpers/service-context.js';
import { handleImageMessage } from '../src/service/image-handler.js';
import { MemoryQueue } from '../src/queues/memory-queue.js';

const base = {
  AWS_DEFAULT_REGION: 'us-east-1',
  IMAGE_QUEUE: 'http://127.0.0.1:9324/000000000000/images',
  REGION_QUEUE: 'http://127.0.0.1:9324/000000000000/regions',
  IMAGE_DLQ: 'http://127.0.0.1:9324/000000000000/image-dlq',
  JOB_TABLE: 'jobs',
  REGION_REQUEST_TABLE: 'regions',
  FEATURE_TABLE: 'features',
};

describe('service configuration', () => {
  test('OSML names and defaults', () => {
    const c = loadServiceConfig({ ...base, IMAGE_STATUS_TOPIC: 'arn:aws:sns:us-east-1:000000000000:image-status', WORKERS: '16', TESSERA_WORKER_THREADS: '4', TESSERA_SQS_ENDPOINT: 'http://127.0.0.1:9324' });
    expect(c.queues).toEqual({ image: base.IMAGE_QUEUE, region: base.REGION_QUEUE, imageDlq: base.IMAGE_DLQ });
    expect(c.tables).toEqual({ job: 'jobs', region: 'regions', feature: 'features' });
    expect(c.topics).toEqual({ image: 'arn:aws:sns:us-east-1:000000000000:image-status' });
    expect(c.regionSize).toEqual({ width: 10240, height: 10240 });
    expect(c.ttlDays).toBe(1);
    expect(c.aws).toEqual({ region: 'us-east-1', endpoints: { sqs: 'http://127.0.0.1:9324' } });
    expect([c.workerThreads, c.concurrencyPerWorker]).toEqual([4, 4]);
    expect(c.concurrentRegions).toBe(1);
    expect(c.healthPort).toBe(8090);
    // NEW OSML's job table name works as well.
    const { JOB_TABLE: _j, ...rest } = base;
    expect(loadServiceConfig({ ...rest, IMAGE_REQUEST_TABLE: 'image-requests', REGION_SIZE: '(8192, 4096)', DDB_TTL_IN_DAYS: '7' })).toMatchObject({ tables: { job: 'image-requests' }, regionSize: { width: 8192, height: 4096 }, ttlDays: 7 });
  });

  test('endpoint throttling (OSML NEW names): on with an ENDPOINT_TABLE unless SCHEDULER_THROTTLING_ENABLED is false', () => {
    expect(loadServiceConfig(base).throttling).toMatchObject({ enabled: false }); // no ENDPOINT_TABLE: nowhere to keep the load
    expect(loadServiceConfig({ ...base, ENDPOINT_TABLE: 'endpoints' }).throttling).toEqual({
      enabled: true, httpEndpointConcurrency: 10, instanceConcurrency: 2, instanceCounts: {}, tileWorkersPerInstance: 4, targetPercentage: 1, retrySeconds: 10, capacityCacheSeconds: 300,
    });
    // SageMaker capacity: cache time of DescribeEndpoint results, and the control plane's own endpoint override.
    const sm = loadServiceConfig({ ...base, ENDPOINT_TABLE: 'endpoints', TESSERA_SM_CAPACITY_CACHE_SECONDS: '60', TESSERA_SAGEMAKER_API_ENDPOINT: 'http://127.0.0.1:4566' });
    expect(sm.throttling.capacityCacheSeconds).toBe(60);
    expect(sm.aws.endpoints).toEqual({ sagemakerApi: 'http://127.0.0.1:4566' });
    expect(() => loadServiceConfig({ ...base, TESSERA_SM_CAPACITY_CACHE_SECONDS: '-1', TESSERA_SAGEMAKER_API_ENDPOINT: 'api.sagemaker' })).toThrow(/TESSERA_SM_CAPACITY_CACHE_SECONDS[\s\S]*TESSERA_SAGEMAKER_API_ENDPOINT|TESSERA_SAGEMAKER_API_ENDPOINT[\s\S]*TESSERA_SM_CAPACITY_CACHE_SECONDS/);
    expect(loadServiceConfig({ ...base, ENDPOINT_TABLE: 'endpoints', SCHEDULER_THROTTLING_ENABLED: 'False', TESSERA_SM_INSTANCE_COUNTS: 'ep-a=3' }).throttling).toMatchObject({ enabled: false, instanceCounts: { 'ep-a': 3 } });
    expect(() => loadServiceConfig({ ...base, CAPACITY_TARGET_PERCENTAGE: '0', TILE_WORKERS_PER_INSTANCE: '0', TESSERA_SM_INSTANCE_COUNTS: 'x', SCHEDULER_THROTTLING_ENABLED: 'maybe' })).toThrow(/CAPACITY_TARGET_PERCENTAGE[\s\S]*TILE_WORKERS_PER_INSTANCE|TILE_WORKERS_PER_INSTANCE[\s\S]*CAPACITY_TARGET_PERCENTAGE/);
  });

  test('every problem is reported, one line each', () => {
    let err: ConfigError | undefined;
    try {
      loadServiceConfig({ IMAGE_QUEUE: 'not a url', WORKERS: 'many', REGION_SIZE: '(10, x)', DDB_TTL_IN_DAYS: '0', IMAGE_STATUS_TOPIC: 'topic', TESSERA_HEALTH_PORT: '70000', TESSERA_TILING_STRATEGY: 'spiral', TESSERA_DYNAMODB_ENDPOINT: 'localhost:8000' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.problems.join('\n');
    for (const name of ['AWS_DEFAULT_REGION', 'IMAGE_QUEUE must be an http(s) URL', 'REGION_QUEUE is not set', 'IMAGE_DLQ is not set', 'JOB_TABLE (or IMAGE_REQUEST_TABLE) is not set', 'REGION_REQUEST_TABLE', 'FEATURE_TABLE', 'WORKERS', 'REGION_SIZE', 'DDB_TTL_IN_DAYS', 'IMAGE_STATUS_TOPIC', 'TESSERA_HEALTH_PORT', 'TESSERA_TILING_STRATEGY', 'TESSERA_DYNAMODB_ENDPOINT']) {
      expect(text).toContain(name);
    }
    expect(err!.problems).toHaveLength(14);
    expect(err!.message.split('\n')).toHaveLength(15);
  });

  test('TESSERA_MODEL_RETRIES above what a tile may attempt is refused at start, not capped in silence', () => {
    expect(loadServiceConfig(base).model.maxRetries).toBe(5);
    expect(loadServiceConfig({ ...base, TESSERA_MODEL_RETRIES: '0' }).model.maxRetries).toBe(0);
    expect(loadServiceConfig({ ...base, TESSERA_MODEL_RETRIES: '9' }).model.maxRetries).toBe(9); // 10 attempts: the SageMaker detector's limit
    expect(() => loadServiceConfig({ ...base, TESSERA_MODEL_RETRIES: '10' })).toThrow('TESSERA_MODEL_RETRIES must be an integer from 0 to 9 (at most 10 model attempts per tile), got "10"');
    expect(() => loadServiceConfig({ ...base, TESSERA_MODEL_RETRIES: '-1' })).toThrow(/TESSERA_MODEL_RETRIES must be an integer from 0 to 9/);
  });

  test('folders a request may read images from and write File outputs to: refused unless set, kept as real paths', () => {
    expect(loadServiceConfig(base).paths).toEqual({ images: { kind: 'refused', setting: 'TESSERA_LOCAL_IMAGE_DIR' }, fileOutputs: { kind: 'refused', setting: 'TESSERA_FILE_OUTPUT_DIR' } });
    const root = mkdtempSync(join(tmpdir(), 'tessera-config-'));
    const real = join(root, 'real');
    mkdirSync(real);
    symlinkSync(real, join(root, 'link'));
    writeFileSync(join(root, 'file'), '');
    const c = loadServiceConfig({ ...base, TESSERA_LOCAL_IMAGE_DIR: join(root, 'link'), TESSERA_FILE_OUTPUT_DIR: real });
    expect(c.paths).toEqual({ images: { kind: 'inside', dir: realpathSync(real), setting: 'TESSERA_LOCAL_IMAGE_DIR' }, fileOutputs: { kind: 'inside', dir: realpathSync(real), setting: 'TESSERA_FILE_OUTPUT_DIR' } });
    let err: ConfigError | undefined;
    try {
      loadServiceConfig({ ...base, TESSERA_LOCAL_IMAGE_DIR: 'images', TESSERA_FILE_OUTPUT_DIR: join(root, 'file') });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err!.problems).toEqual(['TESSERA_LOCAL_IMAGE_DIR must be an absolute path to a folder, got "images"', `TESSERA_FILE_OUTPUT_DIR must be an existing folder, got ${JSON.stringify(join(root, 'file'))} (not a folder)`]);
    expect(() => loadServiceConfig({ ...base, TESSERA_FILE_OUTPUT_DIR: join(root, 'missing') })).toThrow(/TESSERA_FILE_OUTPUT_DIR must be an existing folder, .*\(ENOENT\)/);
  });

  test('options that size resources or set timers have upper bounds', () => {
    const problemsOf = (env: NodeJS.ProcessEnv) => {
      try {
        loadServiceConfig({ ...base, ...env });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    const cores = availableParallelism();
    const maxThreads = Math.min(4 * cores, 64); // 4 threads per core, at most 64 (src/util/limits.ts)
    expect(problemsOf({
      TESSERA_WORKER_THREADS: String(maxThreads + 1),
      WORKERS: '1025',
      TESSERA_CONCURRENT_REGIONS: '17',
      // 2147484 s: the first whole number of seconds whose milliseconds overflow a Node timer (2^31-1 ms)
      TESSERA_MODEL_TIMEOUT_SECONDS: '2147484',
      TESSERA_STOP_GRACE_SECONDS: '86401',
      TESSERA_AGGREGATION_LEASE_SECONDS: '1e7',
    })).toEqual([
      'WORKERS must be an integer from 1 to 1024, got "1025"',
      `TESSERA_WORKER_THREADS must be an integer from 1 to ${maxThreads} (4 × the ${cores} cores, at most 64), got "${maxThreads + 1}"`,
      'TESSERA_STOP_GRACE_SECONDS must be a number >= 0 and at most 86400 (24 h), got "86401"',
      'TESSERA_AGGREGATION_LEASE_SECONDS must be a number >= 1 and at most 86400 (24 h), got "1e7"',
      'TESSERA_CONCURRENT_REGIONS must be an integer from 1 to 16, got "17"',
      'TESSERA_MODEL_TIMEOUT_SECONDS must be a number > 0 and at most 86400 (24 h), got "2147484"',
    ]);
    // The bounds themselves are accepted.
    const c = loadServiceConfig({ ...base, TESSERA_WORKER_THREADS: String(maxThreads), WORKERS: '1024', TESSERA_CONCURRENT_REGIONS: '16', TESSERA_MODEL_TIMEOUT_SECONDS: '86400', TESSERA_STOP_GRACE_SECONDS: '86400' });
    expect([c.workerThreads, c.concurrencyPerWorker, c.concurrentRegions, c.model.timeoutMs, c.stopGraceMs]).toEqual([maxThreads, Math.ceil(1024 / maxThreads), 16, 86_400_000, 86_400_000]);
  });

  test('TESSERA_HTTP_MODEL_URLS: unset allows any HTTP model URL; set, a list of http(s) URL prefixes, each checked at start', () => {
    expect(loadServiceConfig(base).paths.httpModelUrls).toBeUndefined();
    expect(loadServiceConfig({ ...base, TESSERA_HTTP_MODEL_URLS: ' http://Models:8080/v1 ,https://d.example.com' }).paths.httpModelUrls).toEqual(['http://models:8080/v1', 'https://d.example.com/']);
    let err: ConfigError | undefined;
    try {
      loadServiceConfig({ ...base, TESSERA_HTTP_MODEL_URLS: 'models:8080, ftp://m/, http://m/x?y=1,http://ok/' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err!.problems).toEqual([
      'TESSERA_HTTP_MODEL_URLS: "models:8080" is not an http(s) URL',
      'TESSERA_HTTP_MODEL_URLS: "ftp://m/" is not an http(s) URL',
      'TESSERA_HTTP_MODEL_URLS: "http://m/x?y=1" has a query or fragment (prefixes are scheme, host, port and a path)',
    ]);
    expect(() => loadServiceConfig({ ...base, TESSERA_HTTP_MODEL_URLS: ' , ' })).toThrow(/TESSERA_HTTP_MODEL_URLS names no URL prefix/);
  });

  test('TESSERA_GDAL_DRIVERS: the GDAL drivers request images are opened with; by default none that reads other files or URLs', () => {
    expect(loadServiceConfig(base).gdalDrivers).toEqual(['NITF', 'GTiff', 'COG', 'PNG', 'JPEG', 'JP2OpenJPEG']);
    expect(loadServiceConfig({ ...base, TESSERA_GDAL_DRIVERS: 'nitf,GTiff' }).gdalDrivers).toEqual(['NITF', 'GTiff']);
    expect(() => loadServiceConfig({ ...base, TESSERA_GDAL_DRIVERS: 'NITF,NOPE' })).toThrow(/TESSERA_GDAL_DRIVERS: "NOPE" is not a raster driver of this GDAL/);
  });

  test('REGION_SIZE forms', () => {
    expect(parseRegionSize('(10240, 10240)')).toEqual({ width: 10240, height: 10240 });
    expect(parseRegionSize('[512,256]')).toEqual({ width: 512, height: 256 });
    expect(parseRegionSize('4096')).toEqual({ width: 4096, height: 4096 });
    expect(parseRegionSize('512, 256')).toEqual({ width: 512, height: 256 });
    for (const bad of ['(1, 2]', 'big', '(1, 2, 3)', '-5', '(1.5, 2)']) expect(parseRegionSize(bad), bad).toBeNull();
  });
});

describe('service request checks', () => {
  const good = { jobId: 'j', imageUrls: ['s3://bkt/k.ntf'], outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p' }], imageProcessor: { name: 'http://127.0.0.1:8080/invocations', type: 'HTTP_ENDPOINT' }, imageProcessorTileSize: 512, imageProcessorTileOverlap: 128 };
  const problems = (body: unknown) => {
    try {
      parseServiceRequest(JSON.stringify(body), servicePaths({}));
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidRequestError);
      return (err as InvalidRequestError).problems;
    }
  };

  test('what this service can run, on top of the schema', () => {
    expect(problems(good)).toEqual([]);
    expect(problems({ ...good, outputs: [] })[0]).toMatch(/^outputs: /);
    expect(problems({ ...good, outputs: undefined, outputBucket: 'legacy', outputPrefix: 'x/' })).toEqual([]);
    expect(problems({ ...good, imageProcessor: { name: 'endpoint-name', type: 'HTTP_ENDPOINT' } })[0]).toMatch(/^imageProcessor\.name: /);
    // SM_ENDPOINT (the default type) is accepted with a SageMaker endpoint name, not with a URL.
    expect(problems({ ...good, imageProcessor: { name: 'endpoint-name' } })).toEqual([]);
    expect(problems({ ...good, imageProcessor: { name: 'http://127.0.0.1:1/invocations', type: 'SM_ENDPOINT' } })[0]).toMatch(/^imageProcessor\.name: must be a SageMaker endpoint name/);
    // Parameters that become HTTP headers must be valid ones (CustomAttributes for SageMaker as well).
    expect(problems({ ...good, imageProcessorParameters: { CustomAttributes: 'a=1\nb=2', 'Bad Name': 'v', TargetVariant: 'v\u00e9', Count: 3 } })).toEqual([
      'imageProcessorParameters.CustomAttributes: contains a newline at character 4; an HTTP header value takes printable ASCII only',
      'imageProcessorParameters["Bad Name"]: is not a valid HTTP header name (letters, digits and !#$%&\'*+.^_`|~- only)',
      'imageProcessorParameters.TargetVariant: contains non-ASCII character "é" at character 2; an HTTP header value takes printable ASCII only',
      'imageProcessorParameters.Count: must be a string (it is sent as an HTTP header), got 3',
    ]);
    expect(problems({ ...good, imageProcessor: { name: 'endpoint-name' }, imageProcessorParameters: { CustomAttributes: 'x\u0007', TargetVariant: 'v1' } })).toEqual([
      'imageProcessorParameters.CustomAttributes: contains control character U+0007 at character 2; an HTTP header value takes printable ASCII only',
    ]);
    // Header parameters are strings: a number is refused, not left out (the model then refused every tile).
    expect(problems({ ...good, imageProcessorParameters: { CustomAttributes: 5 } })).toEqual(['imageProcessorParameters.CustomAttributes: must be a string (it is sent as an HTTP header), got 5']);
    expect(problems({ ...good, imageProcessorParameters: { 'X-Flags': { a: [1, 2] } } })).toEqual(['imageProcessorParameters["X-Flags"]: must be a string (it is sent as an HTTP header), got {"a":[1,2]}']);
    // SageMaker: InvokeEndpoint's own parameters are headers too; other keys are dropped with a warning (as OSML).
    expect(problems({ ...good, imageProcessor: { name: 'endpoint-name' }, imageProcessorParameters: { CustomAttributes: 5, TargetVariant: true, NotAnInvokeParameter: 3 } })).toEqual([
      'imageProcessorParameters.CustomAttributes: must be a string (it is sent as an HTTP header), got 5',
      'imageProcessorParameters.TargetVariant: must be a string (it is sent as an HTTP header), got true',
    ]);
    expect(fieldOfProblem('outputs[0].bucket: Invalid input')).toBe('outputs[0].bucket');
    expect(fieldOfProblem('postProcessing[0].algorithm.algorithmType: must be ...')).toBe('postProcessing[0].algorithm.algorithmType');
    expect(fieldOfProblem('image s3://b/k does not exist')).toBeUndefined();
    expect(fieldOfProblem('body is not JSON (x)')).toBe('body');
    // Members whose names are not identifiers, JSON-quoted in brackets, whatever they contain.
    expect(fieldOfProblem('imageProcessorParameters["Bad Header"]: is not a valid HTTP header name')).toBe('imageProcessorParameters["Bad Header"]');
    expect(fieldOfProblem('imageProcessorParameters["X-Trace-Id"]: contains a newline')).toBe('imageProcessorParameters["X-Trace-Id"]');
    expect(fieldOfProblem('imageProcessorParameters["a\\"]: b"]: is not a valid HTTP header name')).toBe('imageProcessorParameters["a\\"]: b"]');
    expect(fieldOfProblem('featureProperties[0]["odd key"].x: ...')).toBe('featureProperties[0]["odd key"].x');
    expect(parseS3Url('s3://bucket/a/b.ntf')).toEqual({ bucket: 'bucket', key: 'a/b.ntf' });
    expect(parseS3Url('s3://bucket')).toBeNull();
  });

  test('ids that would not fit DynamoDB\'s keys are refused up front, naming jobId or the image URL', () => {
    const ok = { ...good, outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p' }] };
    // Region ids "(row, col)(w, h)-<jobId>" are sort keys (at most 1024 bytes): the jobId may take 960 of them.
    expect(problems({ ...ok, jobId: 'a'.repeat(960) })).toEqual([]);
    expect(problems({ ...ok, jobId: 'a'.repeat(961) })).toEqual(['jobId: is 961 bytes (UTF-8); at most 960: its region ids "(row, col)(width, height)-<jobId>" are DynamoDB sort keys, at most 1024 bytes']);
    // Bytes, not characters: "é" is 2 bytes in UTF-8.
    expect(problems({ ...ok, jobId: '\u00e9'.repeat(480) })).toEqual([]);
    expect(problems({ ...ok, jobId: '\u00e9'.repeat(481) })[0]).toMatch(/^jobId: is 962 bytes/);
    // The image id "<jobId>:<imageUrl>" is a partition key (at most 2048 bytes, less "-<shard>" for features).
    const url = (bytes: number) => `s3://bkt/${'k'.repeat(bytes - 'j:s3://bkt/'.length)}`;
    expect(problems({ ...ok, imageUrls: [url(2040)] })).toEqual([]);
    expect(problems({ ...ok, imageUrls: [url(2041)] })).toEqual(['imageUrls[0]: makes the image id "<jobId>:<imageUrl>" 2041 bytes (UTF-8); at most 2040: it is a DynamoDB partition key (at most 2048 bytes) and feature keys add "-<shard>"']);
    // A long jobId is the jobId's problem; the URL is named too only when it alone is too long.
    expect(problems({ ...ok, jobId: 'a'.repeat(1000), imageUrls: [`s3://bkt/${'k'.repeat(1100)}`] }).map(fieldOfProblem)).toEqual(['jobId']);
    expect(problems({ ...ok, jobId: 'a'.repeat(1000), imageUrls: [`s3://bkt/${'k'.repeat(2040)}`] }).map(fieldOfProblem)).toEqual(['jobId', 'imageUrls[0]']);
    expect(problems({ ...ok, imageProcessor: { name: `http://127.0.0.1:8080/${'m'.repeat(2030)}`, type: 'HTTP_ENDPOINT' } })).toEqual(['imageProcessor.name: is 2052 bytes (UTF-8); at most 2048: it keys the endpoint and outstanding-jobs tables (DynamoDB partition keys)']);
  });

  test('the dead-letter message names a parameter whose name is no identifier by its JSON path, in the reason and the field attribute', async () => {
    const imageDlq = new MemoryQueue('local://image-dlq');
    const ctx = memoryServiceContext({ imageDlq });
    for (const [name, field] of [['Bad Header', 'imageProcessorParameters["Bad Header"]'], ['say "hi": now', 'imageProcessorParameters["say \\"hi\\": now"]']]) {
      const body = JSON.stringify({ ...good, outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p' }], imageProcessorParameters: { [name]: 'x' } });
      expect(await handleImageMessage(ctx, { id: name, receiptHandle: name, body, attributes: {}, receiveCount: 1 }, { signal: new AbortController().signal })).toBe('delete');
      const dead = imageDlq.peek().at(-1)!;
      expect(dead.attributes.field).toBe(field);
      expect(dead.attributes.reason).toBe(`invalid image request: ${field}: is not a valid HTTP header name (letters, digits and !#$%&'*+.^_\`|~- only)`);
    }
  });

  test('tile size, overlap and image segment: integers or numeric strings (as OSML), nothing else turned into a number', () => {
    const parsed = parseServiceRequest(JSON.stringify({ ...good, imageProcessorTileSize: '512', imageProcessorTileOverlap: ' 0 ', imageSegment: '1' }), servicePaths({}));
    expect([parsed.imageProcessorTileSize, parsed.imageProcessorTileOverlap, parsed.imageSegment]).toEqual([512, 0, 1]);
    expect(problems({ ...good, imageProcessorTileSize: [600], imageProcessorTileOverlap: 0 })).toEqual(['imageProcessorTileSize: Invalid input: expected number, received array']);
    expect(problems({ ...good, imageProcessorTileSize: true })).toEqual(['imageProcessorTileSize: Invalid input: expected number, received boolean']);
    expect(problems({ ...good, imageProcessorTileOverlap: false })).toEqual(['imageProcessorTileOverlap: Invalid input: expected number, received boolean']);
    expect(problems({ ...good, imageSegment: [1] })).toEqual(['imageSegment: Invalid input: expected number, received array']);
    expect(problems({ ...good, imageProcessorTileSize: '0x200' })).toEqual(['imageProcessorTileSize: Invalid input: expected number, received string']);
    expect(problems({ ...good, imageProcessorTileSize: '256.5' })).toEqual(['imageProcessorTileSize: must be an integer']);
  });

  test('tile format/compression pairs no encoder carries are rejected up front, naming the compression field', () => {
    // README's table of tile formats and compressions.
    const carried: Record<string, string[]> = { NITF: ['NONE', 'JPEG', 'J2K'], GTIFF: ['NONE', 'LZW', 'DEFLATE', 'JPEG'], PNG: ['NONE', 'DEFLATE'], JPEG: ['NONE', 'JPEG'] };
    for (const [format, ok] of Object.entries(carried)) {
      for (const compression of ['NONE', 'JPEG', 'J2K', 'LZW', 'DEFLATE']) {
        const p = problems({ ...good, imageProcessorTileFormat: format, imageProcessorTileCompression: compression });
        if (ok.includes(compression)) expect(p, `${format}/${compression}`).toEqual([]);
        else expect(p, `${format}/${compression}`).toEqual([`imageProcessorTileCompression: ${compression} is not supported with imageProcessorTileFormat ${format} (use ${ok.slice(0, -1).join(', ')} or ${ok[ok.length - 1]})`]);
      }
    }
    expect(problems({ ...good, imageProcessorTileFormat: 'PNG', imageProcessorTileCompression: 'J2K' })).toEqual(['imageProcessorTileCompression: J2K is not supported with imageProcessorTileFormat PNG (use NONE or DEFLATE)']);
    // The default format is NITF: LZW alone is the problem.
    expect(problems({ ...good, imageProcessorTileCompression: 'LZW' })).toEqual(['imageProcessorTileCompression: LZW is not supported with imageProcessorTileFormat NITF (use NONE, JPEG or J2K)']);
  });

  test('the engine job from a request: OSML defaults, detector headers from imageProcessorParameters', () => {
    const request = parseServiceRequest(JSON.stringify({ ...good, imageProcessorTileSize: undefined, imageProcessorTileOverlap: undefined, imageProcessorParameters: { CustomAttributes: 'model_selection=flood', TargetVariant: 'v1' }, postProcessing: [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'SOFT_NMS', sigma: 0.2 } }] }), servicePaths({}));
    const job = imageJobFromRequest(request, { image: '/vsis3/b/k.ntf', regionSize: 8192, strategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 30_000, maxRetries: 2 });
    expect(job).toMatchObject({
      jobId: 'j',
      image: '/vsis3/b/k.ntf',
      tileSize: 1024,
      overlap: 50,
      regionSize: 8192,
      encoding: { format: 'NITF', compression: 'NONE', quality: 90, maxPayloadBytes: 0 },
      distillation: { algorithm: 'SOFT_NMS', iouThreshold: 0.75, skipBoxThreshold: 0.0001, sigma: 0.2 },
      detector: { kind: 'http', url: good.imageProcessor.name, customAttributes: 'model_selection=flood', headers: { TargetVariant: 'v1' }, timeoutMs: 30_000, maxRetries: 2 },
    });
  });

  test('an SM_ENDPOINT request gets a SageMaker detector on the configured runtime endpoint', () => {
    const request = parseServiceRequest(JSON.stringify({ ...good, imageProcessor: { name: 'my-model-endpoint', type: 'SM_ENDPOINT', assumedRole: 'arn:aws:iam::123456789012:role/model' }, imageProcessorParameters: { CustomAttributes: 'model_selection=flood', TargetVariant: 'v1' } }), servicePaths({}));
    const aws = { region: 'us-west-2', endpoints: { sagemaker: 'http://127.0.0.1:9999', sts: 'http://127.0.0.1:9998' } };
    const job = imageJobFromRequest(request, { image: '/vsis3/b/k.ntf', regionSize: 8192, strategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 30_000, maxRetries: 2, aws });
    expect(job.detector).toEqual({
      kind: 'sagemaker',
      endpointName: 'my-model-endpoint',
      region: 'us-west-2',
      endpoint: 'http://127.0.0.1:9999',
      parameters: { CustomAttributes: 'model_selection=flood', TargetVariant: 'v1' },
      timeoutMs: 30_000,
      maxAttempts: 3,
      assumedRole: 'arn:aws:iam::123456789012:role/model',
      stsEndpoint: 'http://127.0.0.1:9998',
    });
  });

  test('region messages are validated', () => {
    expect(() => parseRegionRequest('{"image_id": "x"}')).toThrow(InvalidRegionRequestError);
    expect(() => parseRegionRequest('nope')).toThrow(/body is not JSON/);
    expect(regionIdOf({ x: 9828, y: 0, width: 3158, height: 10184 }, 'job')).toBe('(0, 9828)(3158, 10184)-job');
  });
});

describe('work gate', () => {
  test('region work first: an image is admitted only with no region in hand and a free slot', async () => {
    const gate = new WorkGate(2);
    expect(gate.isOpen('image')).toBe(true);
    let release!: () => void;
    const region = gate.run('region', () => new Promise<void>((r) => (release = r)));
    expect(gate.isOpen('image')).toBe(false);
    expect(gate.isOpen('region')).toBe(true);
    let admitted = false;
    const waiting = gate.wait('image').then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(admitted).toBe(false);
    release();
    await region;
    await waiting;
    expect(admitted).toBe(true);
    const abort = new AbortController();
    const blocker = gate.run('image', () => new Promise<void>((r) => setTimeout(r, 50)));
    const second = gate.run('image', () => new Promise<void>((r) => setTimeout(r, 50)));
    const denied = gate.wait('region', abort.signal);
    abort.abort(new Error('stopped'));
    await expect(denied).rejects.toThrow('stopped');
    await Promise.all([blocker, second]);
  });

  test('a wait that ends normally leaves no listener on the signal (one signal serves a worker for its life)', async () => {
    const gate = new WorkGate(1);
    const life = new AbortController();
    for (let i = 0; i < 20; i++) {
      let release!: () => void;
      const busy = gate.run('region', () => new Promise<void>((r) => (release = r)));
      const waiting = gate.wait('region', life.signal);
      release();
      await busy;
      await waiting;
    }
    expect(getEventListeners(life.signal, 'abort')).toHaveLength(0);
  });
});

describe('CLI', () => {
  test('tessera serve with a broken configuration exits 1 listing every problem', async () => {
    const r = await runCli(['serve'], { env: { ...base, IMAGE_QUEUE: '', FEATURE_TABLE: '', WORKERS: '0', AWS_REGION: '', AWS_DEFAULT_REGION: 'us-east-1' }, timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tessera serve: configuration: 3 problems');
    expect(r.stderr).toContain('IMAGE_QUEUE is not set');
    expect(r.stderr).toContain('FEATURE_TABLE is not set');
    expect(r.stderr).toContain('WORKERS must be an integer from 1 to 1024');
  });

  test("tessera dev-stack refuses a visibility timeout above SQS's 12 h before starting anything", async () => {
    const r = await runCli(['dev-stack', '--visibility-timeout', '43201'], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--visibility-timeout must be an integer from 1 to 43200 (12 h, SQS's maximum), got "43201"`);
    expect(r.stdout).toBe('');
  });

  test('tessera dev-stack prints the environment for tessera serve and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [cliPath, 'dev-stack'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((r) => child.on('close', (code, signal) => r(code ?? (console.log('signal', signal, err), null))));
    const deadline = Date.now() + 30_000;
    while (!out.includes('export REGION_STATUS_TOPIC=') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    for (const name of ['IMAGE_QUEUE', 'REGION_QUEUE', 'IMAGE_DLQ', 'JOB_TABLE', 'REGION_REQUEST_TABLE', 'FEATURE_TABLE', 'TESSERA_SQS_ENDPOINT', 'TESSERA_DYNAMODB_ENDPOINT', 'AWS_S3_ENDPOINT']) {
      expect(out).toMatch(new RegExp(`^export ${name}='[^']*127\\.0\\.0\\.1|^export ${name}='tessera-`, 'm'));
    }
    child.kill('SIGINT');
    expect(await closed).toBe(0);
  });
});
