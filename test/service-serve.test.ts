// `tessera serve` end to end against the local stack (dynalite, local-aws-sqs, s3rver, kinesalite, SNS receiver) and
// a real model server: a request ends SUCCESS with the same features `tessera run` writes, malformed requests land
// in the dead-letter queue with their reason while the service keeps running, and a redelivered region changes
// nothing.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { SqsQueue } from '../src/queues/sqs-queue.js';
import { JobTable, type JobItem } from '../src/state/job-table.js';
import { FeatureTable } from '../src/state/feature-table.js';
import { OutstandingJobsTable } from '../src/state/outstanding-table.js';
import { fromItem } from '../src/state/attribute-values.js';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { s3ObjectKey } from '../src/sinks/s3-sink.js';
import { allTiles, planTiling } from '../src/tiling/index.js';
import { realFixture, runCli, tempDir } from './helpers/cli.js';
import { featuresOf, kinesisRecords, queryItems, readS3Text, startServe, waitFor, writeTestImage, type ServeProcess } from './helpers/serve.js';

let stack: LocalStack;
let model: ModelServer;
let serve: ServeProcess;
let jobs: JobTable;
let imageQueue: SqsQueue;
let dir: string;
const t0 = Date.now();

beforeAll(async () => {
  dir = tempDir('tessera-serve-');
  [stack, model] = await Promise.all([startLocalStack({ visibilityTimeoutSeconds: 10 }), startModelServer({ port: 0, env: { ENABLE_SEGMENTATION: 'true' } })]);
  jobs = new JobTable(stack.clients.dynamodb, stack.names.jobTable);
  imageQueue = new SqsQueue(stack.clients.sqs, stack.queueUrls.image);
  await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.names.bucket, Key: 'images/i_3001a.ntf', Body: readFileSync(realFixture('i_3001a.ntf')) }));
  serve = await startServe('serve', {
    ...stack.env,
    REGION_SIZE: '(1024, 1024)',
    WORKERS: '4',
    TESSERA_WORKER_THREADS: '1',
    TESSERA_CONCURRENT_REGIONS: '2',
    TESSERA_VISIBILITY_TIMEOUT_SECONDS: '10',
    TESSERA_STOP_GRACE_SECONDS: '0.5',
    // The test's local images are read from its scratch folder only.
    TESSERA_LOCAL_IMAGE_DIR: dir,
    // HTTP models only there (and at a port nothing listens on, for the unreachable-model case).
    TESSERA_HTTP_MODEL_URLS: `${model.url}/invocations,http://127.0.0.1:1/`,
  });
  console.log(`service tests: stack, model server and tessera serve up in ${Date.now() - t0} ms`);
});

afterAll(async () => {
  const code = await serve?.stop();
  console.log(`service tests: tessera serve stopped with ${code} after ${Date.now() - t0} ms`);
  await model?.close();
  await stack?.stop();
});

const modelUrl = () => `${model.url}/invocations`;

/** ENDPOINT_TABLE's item for an endpoint (OSML's EndpointStatisticsTable attributes among Tessera's). */
async function endpointStatistics(endpoint: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await stack.clients.dynamodb.send(new GetItemCommand({ TableName: stack.names.endpointTable, Key: { endpoint: { S: endpoint } }, ConsistentRead: true }));
  return Item ? fromItem(Item) : undefined;
}

function request(jobId: string, image: string, extra: Record<string, unknown> = {}) {
  return {
    jobId,
    jobName: `test ${jobId}`,
    imageUrls: [image],
    outputs: [
      { type: 'S3', bucket: stack.names.bucket, prefix: 'results/' },
      { type: 'Kinesis', stream: stack.names.stream, batchSize: 100 },
    ],
    imageProcessor: { name: modelUrl(), type: 'HTTP_ENDPOINT' },
    imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint' },
    imageProcessorTileSize: 512,
    imageProcessorTileOverlap: 128,
    imageProcessorTileFormat: 'NITF',
    featureProperties: [{ modelMetadata: { modelName: 'centerpoint', ontologyName: 'test', ontologyVersion: '1.0.0' } }],
    ...extra,
  };
}

async function untilEnded(imageId: string, timeoutMs = 60_000): Promise<JobItem> {
  return waitFor(`job ${imageId} to end`, async () => {
    const job = await jobs.get(imageId);
    return job?.end_time !== undefined ? job : undefined;
  }, timeoutMs, 150);
}

type F = ReturnType<typeof featuresOf>[number];
const round6 = (v: unknown): unknown => (Array.isArray(v) ? v.map(round6) : typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v);

/** The upstream validator's rules (../shared/fixtures/real/MANIFEST.md). */
function expectSameFeatures(actual: F[], expected: F[]) {
  expect(actual).toHaveLength(expected.length);
  const key = (f: F) => JSON.stringify(f.properties.imageGeometry);
  const byGeometry = new Map(actual.map((f) => [key(f), f]));
  expect(byGeometry.size).toBe(actual.length);
  for (const e of expected) {
    const a = byGeometry.get(key(e));
    expect(a, `no feature with imageGeometry ${key(e)}`).toBeDefined();
    expect(a!.geometry!.type).toBe(e.geometry!.type);
    expect(round6(a!.geometry!.coordinates)).toEqual(round6(e.geometry!.coordinates));
    expect(round6(a!.properties.imageGeometry.coordinates)).toEqual(round6(e.properties.imageGeometry.coordinates));
    expect(a!.properties.featureClasses).toEqual(e.properties.featureClasses);
    expect(Math.abs(a!.properties.center_longitude - e.properties.center_longitude)).toBeLessThanOrEqual(1e-8);
    expect(Math.abs(a!.properties.center_latitude - e.properties.center_latitude)).toBeLessThanOrEqual(1e-8);
    const strip = (m: Record<string, unknown>[] | undefined) => m?.map(({ location: _l, sourceDT: _d, ...rest }) => rest);
    expect(strip(a!.properties.sourceMetadata)).toEqual(strip(e.properties.sourceMetadata));
  }
}

describe('tessera serve', () => {
  test('an image request ends SUCCESS with the features tessera run writes, on S3 and Kinesis, with OSML state and status', async () => {
    const started = Date.now();
    const jobId = 'job-i3001a';
    const body = request(jobId, `s3://${stack.names.bucket}/images/i_3001a.ntf`);
    const imageId = `${jobId}:${body.imageUrls[0]}`;
    await imageQueue.send(body);

    // Meanwhile, the same request through `tessera run` (a local path; everything else identical).
    const requestFile = join(dir, 'i3001a-request.json');
    writeFileSync(requestFile, JSON.stringify({ ...body, imageUrls: [realFixture('i_3001a.ntf')], outputs: [] }));
    const runOut = join(dir, 'run.geojson');
    const [run, job] = await Promise.all([runCli(['run', '--request', requestFile, '--out', runOut, '--no-progress']), untilEnded(imageId)]);
    expect(run.code, run.stderr).toBe(0);
    console.log(`i_3001a through tessera serve: ${job.processing_duration} s (test ${Date.now() - started} ms)`);

    // The job item: OSML's attributes, the status of record, the outcome of every output.
    expect(job).toMatchObject({
      image_id: imageId,
      job_id: jobId,
      image_url: body.imageUrls[0],
      model_name: modelUrl(),
      model_invoke_mode: 'HTTP_ENDPOINT',
      image_status: 'SUCCESS',
      region_count: 1,
      region_success: 1,
      region_error: 0,
      width: 1024,
      height: 1024,
      tile_size: '(512, 512)',
      tile_overlap: '(128, 128)',
      feature_distillation_option: JSON.stringify({ algorithm_type: 'NMS', iou_threshold: 0.75 }),
      feature_count: 9,
      input_format: 'NITF',
    });
    expect(job.completed_region_ids).toHaveLength(1);
    // OSML OLD's extents, from the image's corners: its IGEOLO reads 32°59'00"N..32°58'59"N, 85°00'00"E..85°00'01"E.
    const extents = JSON.parse(job.extents as string);
    expect(Object.keys(extents)).toEqual(['north', 'south', 'east', 'west']);
    expect(extents.north).toBeCloseTo(32 + 59 / 60, 5);
    expect(extents.south).toBeCloseTo(32 + 58 / 60 + 59 / 3600, 5);
    expect(extents.east).toBeCloseTo(85 + 1 / 3600, 5);
    expect(extents.west).toBeCloseTo(85, 5);
    expect(job.end_time).toBeGreaterThanOrEqual(job.start_time);
    expect(job.processing_duration).toBeGreaterThan(0);
    expect(job.expire_time).toBeGreaterThan(Date.now() / 1000);
    expect(JSON.parse(job.outputs as string)).toEqual(body.outputs);
    const outcomes = JSON.parse(job.output_outcomes as string);
    expect(outcomes.map((o: { type: string; ok: boolean; featuresWritten: number }) => [o.type, o.ok, o.featuresWritten])).toEqual([['S3', true, 9], ['Kinesis', true, 9]]);

    // The region item.
    const regions = await queryItems(stack, stack.names.regionTable, 'image_id', imageId);
    expect(regions).toHaveLength(1);
    expect(regions[0]).toMatchObject({
      region_id: `(0, 0)(1024, 1024)-${jobId}`,
      job_id: jobId,
      region_status: 'SUCCESS',
      total_tiles: 9,
      succeeded_tile_count: 9,
      failed_tile_count: 0,
      region_bounds: [[0, 0], [1024, 1024]],
      tile_size: [512, 512],
      tile_overlap: [128, 128],
      tile_format: 'NITF',
      tile_compression: 'NONE',
      region_retry_count: 0,
    });
    expect([...(regions[0].succeeded_tile_ids as Set<string>)]).toHaveLength(9);
    expect(regions[0].processing_duration).toBeGreaterThan(0);

    // The S3 object equals `tessera run`'s output, and OSML's expected result.
    const s3Text = await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId));
    const served = featuresOf(s3Text);
    const local = featuresOf(readFileSync(runOut, 'utf8'));
    expectSameFeatures(served, local);
    expectSameFeatures(served, featuresOf(readFileSync(realFixture('centerpoint.meta.ntf.geojson'), 'utf8')));
    for (const f of served) {
      expect(f.properties.inferenceMetadata.jobId).toBe(jobId);
      expect(f.properties.modelMetadata).toEqual(body.featureProperties[0].modelMetadata);
      expect(f.properties.sourceMetadata[0].location).toBe(body.imageUrls[0]);
    }

    // Kinesis: one record per feature, partition key = job id, each a one-feature FeatureCollection.
    const records = (await kinesisRecords(stack, stack.names.stream)).filter((r) => r.partitionKey === jobId);
    expect(records).toHaveLength(served.length);
    const recordGeometries = records.map((r) => {
      const fc = JSON.parse(r.data);
      expect(fc.features).toHaveLength(1);
      return JSON.stringify(fc.features[0].properties.imageGeometry);
    });
    expect(recordGeometries.sort()).toEqual(served.map((f) => JSON.stringify(f.properties.imageGeometry)).sort());

    // SNS: STARTED, IN_PROGRESS, SUCCESS for the image; SUCCESS for the region; OSML's attributes.
    const attrs = (m: { attributes: Record<string, { stringValue?: string }> }) => Object.fromEntries(Object.entries(m.attributes).map(([k, v]) => [k, v.stringValue]));
    const imageEvents = stack.sns.messages(stack.topicArns.image).map(attrs).filter((a) => a.job_id === jobId);
    expect(imageEvents.map((a) => a.status)).toEqual(['STARTED', 'IN_PROGRESS', 'SUCCESS']);
    for (const a of imageEvents) expect(a).toMatchObject({ image_status: a.status, job_id: jobId, image_id: imageId });
    expect(Number(imageEvents[2].processing_duration)).toBeGreaterThan(0);
    const regionEvents = stack.sns.messages(stack.topicArns.region).map(attrs).filter((a) => a.job_id === jobId);
    expect(regionEvents).toEqual([{ status: 'SUCCESS', job_id: jobId, image_id: imageId, region_id: regions[0].region_id, processing_duration: String(regions[0].processing_duration) }]);

    // EMF metrics on stdout, OSML's namespace and operations.
    await waitFor('ImageProcessing metrics', () => serve.stdout().includes('"Operation":"ImageProcessing"'), 15_000);
    const emf = serve.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    // Every operation with OSML's dimension set (reference §10), and the dimension values.
    const expectedDimensions: Record<string, Record<string, string>> = {
      ImageProcessing: { ModelName: modelUrl(), InputFormat: 'NITF' },
      RegionProcessing: { ModelName: modelUrl(), InputFormat: 'NITF' },
      TileGeneration: { InputFormat: 'NITF' },
      TileProcessing: { ModelName: modelUrl() },
      ModelInvocation: { ModelName: modelUrl() },
      FeatureRefinement: {},
      FeatureStorage: {},
      FeatureAggregation: {},
      FeatureSelection: {},
      FeatureDissemination: {},
    };
    expect(new Set(emf.map((e) => e.Operation))).toEqual(new Set(Object.keys(expectedDimensions)));
    for (const e of emf) {
      const dims = expectedDimensions[e.Operation];
      expect(e._aws.CloudWatchMetrics, e.Operation).toEqual([expect.objectContaining({ Namespace: 'OSML/ModelRunner', Dimensions: [['Operation', ...Object.keys(dims)]] })]);
      expect(e, e.Operation).toMatchObject(dims);
    }
    // One image, one region, 9 tiles (1024² in 512² tiles with 128 overlap), none retried or failed.
    const samples = (op: string, name: string) => emf.filter((e) => e.Operation === op).flatMap((e) => [e[name] ?? []].flat() as number[]);
    const sum = (op: string, name: string) => samples(op, name).reduce((a, b) => a + b, 0);
    const invocations = Object.fromEntries(Object.keys(expectedDimensions).map((op) => [op, sum(op, 'Invocations')]));
    expect(invocations).toEqual({ ImageProcessing: 1, RegionProcessing: 1, TileGeneration: 9, TileProcessing: 9, ModelInvocation: 9, FeatureRefinement: 9, FeatureStorage: 1, FeatureAggregation: 1, FeatureSelection: 1, FeatureDissemination: 1 });
    expect(samples('ModelInvocation', 'Retries')).toEqual(Array(9).fill(0));
    expect(samples('TileProcessing', 'Retries')).toEqual([]);
    for (const op of Object.keys(expectedDimensions)) expect(sum(op, 'Errors'), op).toBe(0);
    for (const op of ['TileGeneration', 'ModelInvocation', 'FeatureRefinement', 'TileProcessing']) expect(samples(op, 'Duration'), op).toHaveLength(9);

    // OSML's endpoint statistics once the job released its endpoint: no region in progress; max_regions = the
    // HTTP endpoint's default concurrency 10 over TILE_WORKERS_PER_INSTANCE 4, rounded down. The outstanding
    // record of the ended job is gone (OSML deletes it when the job completes).
    const outstanding = new OutstandingJobsTable(stack.clients.dynamodb, stack.names.outstandingTable);
    await waitFor('the endpoint released', async () => (await endpointStatistics(modelUrl()))?.regions_in_progress === 0, 15_000);
    expect(await endpointStatistics(modelUrl())).toMatchObject({ endpoint: modelUrl(), regions_in_progress: 0, max_regions: 2 });
    await waitFor('the outstanding record removed', async () => (await outstanding.get(modelUrl(), jobId)) === undefined, 15_000);

    const health = await fetch(serve.healthUrl);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', checks: { image_queue: 'ok', region_queue: 'ok', job_table: 'ok', region_table: 'ok', feature_table: 'ok' } });
  });

  test('a job whose model cannot be reached ends FAILED saying why, in the table, on SNS and in the log; nothing is written', async () => {
    const image = join(dir, 'unreachable.tif');
    writeTestImage(image, 2048, 512);
    const jobId = 'bad-5';
    const imageId = `${jobId}:${image}`;
    const url = 'http://127.0.0.1:1/invocations'; // nothing listens on port 1
    // 2048 x 512 in 512 tiles without overlap, regions of 1024: two regions of two tiles, every tile refused.
    await imageQueue.send(request(jobId, image, { imageProcessor: { name: url, type: 'HTTP_ENDPOINT' }, imageProcessorTileOverlap: 0, imageProcessorTileFormat: 'PNG' }));
    const job = await untilEnded(imageId);
    const why = `could not reach model at ${url} (connect ECONNREFUSED 127.0.0.1:1) after 6 attempts`; // TESSERA_MODEL_RETRIES 5
    expect(job).toMatchObject({ image_status: 'FAILED', region_count: 2, region_success: 0, region_error: 2 });
    expect(job.message).toMatch(/^every tile failed \(4 of 4\); most often \(4\): \(0, (0|512|1024|1536)\)\(512, 512\): /);
    expect(job.message!.endsWith(`: ${why}; no output written`)).toBe(true);
    expect(job.output_outcomes).toBeUndefined();

    // Each region: its counts and the reason, with one of its tiles, kept small on the item.
    const regions = await queryItems(stack, stack.names.regionTable, 'image_id', imageId);
    expect(regions).toHaveLength(2);
    for (const r of regions) {
      expect(r).toMatchObject({ region_status: 'FAILED', total_tiles: 2, failed_tile_count: 2 });
      const summary = JSON.parse(r.tile_failures as string);
      expect(summary).toMatchObject({ failed: 2, total: 2, reasons: [{ reason: why, count: 2 }] });
      expect(r.message).toBe(`every tile failed (2 of 2); most often (2): ${summary.reasons[0].tile}: ${why}`);
      expect((r.tile_failures as string).length).toBeLessThan(400);
    }

    // SNS: the final image status carries the reason, each region's too; the log says it.
    const imageEvents = stack.sns.messages(stack.topicArns.image).filter((m) => m.attributes.job_id?.stringValue === jobId);
    expect(imageEvents.map((m) => m.attributes.status.stringValue)).toEqual(['STARTED', 'IN_PROGRESS', 'FAILED']);
    expect(imageEvents[2].message).toBe(`StatusMonitor update: FAILED ${jobId}: ${job.message}`);
    const regionEvents = stack.sns.messages(stack.topicArns.region).filter((m) => m.attributes.job_id?.stringValue === jobId);
    expect(regionEvents.map((m) => m.attributes.status.stringValue)).toEqual(['FAILED', 'FAILED']);
    for (const e of regionEvents) expect(e.message).toContain(why);
    expect(serve.logs.some((l) => l.msg === 'image failed' && l.image_id === imageId && l.reason === job.message)).toBe(true);

    // No output: no S3 object, no Kinesis record.
    await expect(readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId))).rejects.toThrow();
    expect((await kinesisRecords(stack, stack.names.stream)).filter((r) => r.partitionKey === jobId)).toEqual([]);
  });

  test('a jobId used again by another request is dead-lettered naming jobId; the same request sent again changes nothing', async () => {
    const image = join(dir, 'reused.tif');
    writeTestImage(image, 600, 400);
    const jobId = 'job-reused';
    const imageId = `${jobId}:${image}`;
    const first = request(jobId, image, { imageProcessorTileFormat: 'PNG' });
    await imageQueue.send(first);
    const ended = await untilEnded(imageId);
    expect(ended.image_status).toBe('SUCCESS');
    await waitFor('the final status recorded', async () => (await jobs.get(imageId))?.final_status_published_time !== undefined, 15_000);
    const before = (await jobs.get(imageId))!;
    const output = await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId));

    // The same request in a new message (a producer's retry), another request (other output prefix) under its
    // jobId, and one with another image under its jobId (its output would replace results/<jobId>.geojson).
    const other = { ...first, outputs: [{ type: 'S3', bucket: stack.names.bucket, prefix: 'reused/' }] };
    const otherImage = join(dir, 'reused-other.tif');
    writeTestImage(otherImage, 300, 200);
    const anotherImage = { ...first, imageUrls: [otherImage] };
    await imageQueue.send(first);
    await imageQueue.send(other);
    await imageQueue.send(anotherImage);
    const dlq = new SqsQueue(stack.clients.sqs, stack.queueUrls.imageDlq);
    const dead: { body: string; attributes: Record<string, string> }[] = [];
    await waitFor('the reusing request in the dead-letter queue', async () => {
      for (const m of await dlq.receive({ max: 10, waitSeconds: 1, visibilityTimeout: 60 })) {
        dead.push(m);
        await dlq.delete(m.receiptHandle);
      }
      return dead.length >= 2;
    }, 30_000, 0);
    await waitFor('the image queue to be empty', async () => {
      const c = await imageQueue.counts();
      return c.visible === 0 && c.inFlight === 0;
    }, 30_000);
    for (const m of await dlq.receive({ max: 10, waitSeconds: 1, visibilityTimeout: 60 })) dead.push(m);
    const byImage = (m: { body: string }) => (JSON.parse(m.body) as { imageUrls: string[] }).imageUrls[0];
    dead.sort((a, b) => (byImage(a) < byImage(b) ? -1 : 1));
    expect(dead.map((m) => JSON.parse(m.body))).toEqual([anotherImage, other]);
    const endedAt = new Date(before.end_time!).toISOString();
    expect(dead.map((m) => m.attributes.field)).toEqual(['jobId', 'jobId']);
    expect(dead[0].attributes.reason).toBe(`invalid image request: jobId: ${jobId} was already used for another image (${JSON.stringify(image)}) by a job that ended ${endedAt} with status SUCCESS; use a new jobId`);
    expect(dead[1].attributes.reason).toBe(`invalid image request: jobId: ${jobId} was already used for a job that ended ${endedAt} with status SUCCESS; use a new jobId`);
    // The job is as it was, no job was made for the other image, nothing was written for the other requests, no
    // status went out for them.
    expect(await jobs.get(imageId)).toEqual(before);
    expect(await jobs.get(`${jobId}:${otherImage}`)).toBeUndefined();
    await expect(readS3Text(stack, stack.names.bucket, s3ObjectKey('reused/', jobId))).rejects.toThrow();
    expect(await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId))).toBe(output);
    const statuses = stack.sns.messages(stack.topicArns.image).filter((m) => m.attributes.job_id?.stringValue === jobId).map((m) => m.attributes.status.stringValue);
    expect(statuses).toEqual(['STARTED', 'IN_PROGRESS', 'SUCCESS']);
  });

  test('malformed requests go to the dead-letter queue before any work, with the field path and the reason; the service keeps running', async () => {
    const started = Date.now();
    // Anything GDAL fetched through /vsicurl/ would show up here.
    let fetched = 0;
    const bait = createServer((_req, res) => (fetched++, res.end('x')));
    await new Promise<void>((r) => bait.listen(0, '127.0.0.1', r));
    const baitUrl = `http://127.0.0.1:${(bait.address() as AddressInfo).port}/latest/meta-data/`;
    const written = join(dir, 'written-by-a-request.geojson');

    const good = request('x', `s3://${stack.names.bucket}/images/i_3001a.ntf`);
    const { jobId: _j, ...noJobId } = good;
    const { imageProcessor: _p, ...noProcessor } = good;
    const algorithm = (a: object) => ({ ...good, postProcessing: [{ step: 'FEATURE_DISTILLATION', algorithm: a }] });
    // [case, body, the `field` attribute, what the reason says about it]
    const cases: [string, unknown, string, string][] = [
      ['missing jobId', noJobId, 'jobId', 'expected string, received undefined'],
      ['empty jobId', { ...good, jobId: '' }, 'jobId', 'must not be empty'],
      ['empty imageUrls', { ...good, imageUrls: [] }, 'imageUrls', 'must hold one image'],
      ['two imageUrls', { ...good, imageUrls: ['s3://a/1.ntf', 's3://a/2.ntf'] }, 'imageUrls', 'must hold exactly one image'],
      ['tile size not above overlap', { ...good, imageProcessorTileSize: 128, imageProcessorTileOverlap: 128 }, 'imageProcessorTileOverlap', 'must be smaller than imageProcessorTileSize (128 >= 128)'],
      ['unknown tile format', { ...good, imageProcessorTileFormat: 'BMP' }, 'imageProcessorTileFormat', 'must be one of NITF, JPEG, PNG, GTIFF'],
      ['unknown compression', { ...good, imageProcessorTileCompression: 'ZIP' }, 'imageProcessorTileCompression', 'must be one of NONE, JPEG, J2K, LZW, DEFLATE'],
      ['PNG tiles with J2K', { ...good, imageProcessorTileFormat: 'PNG', imageProcessorTileCompression: 'J2K' }, 'imageProcessorTileCompression', 'J2K is not supported with imageProcessorTileFormat PNG (use NONE or DEFLATE)'],
      ['bad WKT', { ...good, regionOfInterest: 'POLYGON ((1 2, 3' }, 'regionOfInterest', 'not valid WKT'],
      ['ROI not a polygon', { ...good, regionOfInterest: 'POINT (1 2)' }, 'regionOfInterest', 'must be a POLYGON or MULTIPOLYGON in lon/lat, got Point'],
      ['bad postProcessing keys', algorithm({ algorithmType: 'NMS', skipBoxThreshold: 0.1 }), 'postProcessing[0].algorithm', 'Unrecognized key: "skipBoxThreshold"'],
      ['unknown postProcessing step', { ...good, postProcessing: [{ step: 'BLUR', algorithm: { algorithmType: 'NMS' } }] }, 'postProcessing[0].step', 'expected "FEATURE_DISTILLATION"'],
      ['unknown algorithmType', algorithm({ algorithmType: 'WBF' }), 'postProcessing[0].algorithm.algorithmType', 'must be "NMS", "SOFT_NMS" or "NONE"'],
      ['iouThreshold above 1', algorithm({ algorithmType: 'NMS', iouThreshold: 2 }), 'postProcessing[0].algorithm.iouThreshold', 'expected number to be <=1'],
      ['unknown output type', { ...good, outputs: [{ type: 'SQS', queue: 'q' }] }, 'outputs[0].type', 'must be "S3", "Kinesis" or "File"'],
      ['S3 output without bucket', { ...good, outputs: [{ type: 'S3', prefix: 'p/' }] }, 'outputs[0].bucket', 'expected string, received undefined'],
      ['Kinesis output without stream', { ...good, outputs: [good.outputs[0], { type: 'Kinesis' }] }, 'outputs[1].stream', 'expected string, received undefined'],
      ['no outputs at all', { ...good, outputs: [] }, 'outputs', 'nothing would receive its features'],
      ['File output without TESSERA_FILE_OUTPUT_DIR', { ...good, outputs: [good.outputs[0], { type: 'File', path: written }] }, 'outputs[1].path', 'File outputs are not accepted by this service'],
      ['imageReadRole not an ARN', { ...good, imageReadRole: 'reader' }, 'imageReadRole', 'must be an IAM role ARN'],
      ['S3 output role not an ARN', { ...good, outputs: [{ type: 'S3', bucket: 'b', prefix: 'p', role: 'writer' }] }, 'outputs[0].role', 'must be an IAM role ARN'],
      ['missing imageProcessor', noProcessor, 'imageProcessor', 'expected object, received undefined'],
      ['bad imageProcessor.type', { ...good, imageProcessor: { name: modelUrl(), type: 'LAMBDA' } }, 'imageProcessor.type', 'must be "SM_ENDPOINT" or "HTTP_ENDPOINT"'],
      ['HTTP endpoint name not a URL', { ...good, imageProcessor: { name: 'my-model', type: 'HTTP_ENDPOINT' } }, 'imageProcessor.name', 'must be an http(s) URL for an HTTP_ENDPOINT'],
      ['HTTP model outside TESSERA_HTTP_MODEL_URLS', { ...good, imageProcessor: { name: baitUrl, type: 'HTTP_ENDPOINT' } }, 'imageProcessor.name', `${JSON.stringify(baitUrl)} is not a model endpoint this service may call (its operator lists them in TESSERA_HTTP_MODEL_URLS)`],
      ['negative overlap', { ...good, imageProcessorTileOverlap: -1 }, 'imageProcessorTileOverlap', 'must not be negative'],
      ['non-integer tile size', { ...good, imageProcessorTileSize: 256.5 }, 'imageProcessorTileSize', 'must be an integer'],
      ['non-numeric tile size', { ...good, imageProcessorTileSize: 'big' }, 'imageProcessorTileSize', 'expected number, received string'],
      ['tile size as a list', { ...good, imageProcessorTileSize: [600] }, 'imageProcessorTileSize', 'expected number, received array'],
      ['featureProperties not a list', { ...good, featureProperties: { a: 1 } }, 'featureProperties', 'expected array, received object'],
      ['S3 output bucket name S3 refuses', { ...good, outputs: [{ type: 'S3', bucket: 'Bad_Bucket!', prefix: 'p/' }] }, 'outputs[0].bucket', '"Bad_Bucket!" is not an S3 bucket name'],
      ['CustomAttributes a number', { ...good, imageProcessorParameters: { CustomAttributes: 5 } }, 'imageProcessorParameters.CustomAttributes', 'must be a string (it is sent as an HTTP header), got 5'],
      ['header parameter whose name has a space', { ...good, imageProcessorParameters: { 'Bad Header': 'x' } }, 'imageProcessorParameters["Bad Header"]', 'is not a valid HTTP header name'],
      ['/vsicurl/ image URL', { ...good, imageUrls: [`/vsicurl/${baitUrl}`] }, 'imageUrls[0]', 'GDAL virtual file system paths (/vsi...) are not accepted'],
      ['/vsis3/ image URL', { ...good, imageUrls: [`/vsis3/${stack.names.bucket}/images/i_3001a.ntf`] }, 'imageUrls[0]', 'GDAL virtual file system paths (/vsi...) are not accepted'],
      ['https image URL', { ...good, imageUrls: [baitUrl.replace('http:', 'https:')] }, 'imageUrls[0]', 'only s3://bucket/key URLs and local paths are supported'],
      ['s3 URL without a key', { ...good, imageUrls: [`s3://${stack.names.bucket}`] }, 'imageUrls[0]', 'is not an s3://bucket/key URL'],
      ['driver-prefixed image name', { ...good, imageUrls: [`NITF_IM:0:${dir}/x.ntf`] }, 'imageUrls[0]', 'GDAL driver-prefixed names are not accepted'],
      ['local image outside TESSERA_LOCAL_IMAGE_DIR', { ...good, imageUrls: ['/etc/hosts'] }, 'imageUrls[0]', 'is outside the folder this service reads local images from (TESSERA_LOCAL_IMAGE_DIR)'],
      ['non-JSON body', 'this is not JSON {', 'body', 'body is not JSON'],
      ['JSON array body', [good], 'body', 'body must be a JSON object'],
      ['JSON null body', null, 'body', 'body must be a JSON object'],
      ['body nested 100,000 levels deep', '['.repeat(100_000), 'body', 'body nests arrays and objects more than 32 levels deep'],
      ['body over 256 KiB', { ...good, pad: 'x'.repeat(300_000) }, 'body', 'a request may have at most 262144'],
      ['jobId with a NUL character', { ...good, jobId: 'a\u0000b' }, 'jobId', 'must be text without control characters or lone surrogate halves'],
      ['jobId with a lone surrogate half', { ...good, jobId: 'bad\ud800half' }, 'jobId', 'must be text without control characters or lone surrogate halves'],
    ];
    // Each body carries a marker so its dead-letter message can be matched to its case.
    const bodies = cases.map(([name, value], i) => {
      if (value === null) return 'null';
      if (typeof value === 'string') return `${value} #${i}`;
      if (Array.isArray(value)) return JSON.stringify([...value, { case: i }]);
      return JSON.stringify({ ...(value as object), testCase: `${i} ${name}` });
    });
    await Promise.all(bodies.map((b) => imageQueue.send(b)));

    const dlq = new SqsQueue(stack.clients.sqs, stack.queueUrls.imageDlq);
    const received = new Map<string, Record<string, string>>();
    await waitFor(`${cases.length} dead-letter messages`, async () => {
      for (const m of await dlq.receive({ max: 10, waitSeconds: 1, visibilityTimeout: 60 })) {
        received.set(m.body, m.attributes);
        await dlq.delete(m.receiptHandle);
      }
      return received.size >= cases.length;
    }, 60_000, 0);
    expect(received.size).toBe(cases.length);
    cases.forEach(([name, , field, why], i) => {
      const attributes = received.get(bodies[i]);
      expect(attributes, `${name}: not in the dead-letter queue`).toBeDefined();
      expect(attributes!.field, name).toBe(field);
      // The reason starts with the same field (the first problem), then says what is wrong with it.
      expect(attributes!.reason.startsWith(field === 'body' ? 'invalid image request: body ' : `invalid image request: ${field}: `), `${name}: ${attributes!.reason}`).toBe(true);
      expect(attributes!.reason, name).toContain(why);
      expect(attributes!.source_queue, name).toBe(stack.queueUrls.image);
    });
    // Before any work: no job recorded, no status published, nothing fetched or written for any of them.
    const objects = cases.map(([, v]) => v).filter((v): v is { jobId: string; imageUrls: string[] } => !!v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { jobId?: unknown }).jobId === 'string' && Array.isArray((v as { imageUrls?: unknown }).imageUrls));
    // (jobIds that are not text cannot be a DynamoDB key to look up: they were refused before any write anyway)
    for (const v of objects) if (v.imageUrls.length && !/[\u0000-\u001f]|\p{Cs}/u.test(v.jobId)) expect(await jobs.get(`${v.jobId}:${v.imageUrls[0]}`), v.imageUrls[0]).toBeUndefined();
    expect(stack.sns.messages(stack.topicArns.image).filter((m) => m.attributes.job_id?.stringValue === 'x')).toEqual([]);
    expect(fetched).toBe(0);
    expect(existsSync(written)).toBe(false);
    console.log(`${cases.length} malformed requests dead-lettered in ${Date.now() - started} ms; e.g. ${JSON.stringify(received.get(bodies[0])!.reason)}`);

    // Valid requests whose image cannot be used: the job is recorded as FAILED with the reason, the failure is
    // published, and the request is dead-lettered with the same reason.
    const notRaster = join(dir, 'MANIFEST.md');
    copyFileSync(realFixture('MANIFEST.md'), notRaster);
    // VRTs whose pixels come from a /vsicurl/ URL (GDAL would fetch it when reading them): local and on S3.
    const vrt = `<VRTDataset rasterXSize="1024" rasterYSize="1024"><VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename relativeToVRT="0">/vsicurl/${baitUrl}image.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>`;
    const localVrt = join(dir, 'fetches.vrt');
    writeFileSync(localVrt, vrt);
    await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.names.bucket, Key: 'images/fetches.vrt', Body: vrt }));
    const notAllowed = 'this service opens images only with the GDAL drivers NITF, GTiff, COG, PNG, JPEG, JP2OpenJPEG (TESSERA_GDAL_DRIVERS)';
    const unusable: [string, string][] = [
      [`s3://${stack.names.bucket}/images/missing.ntf`, 'does not exist'],
      [notRaster, 'not a raster image GDAL can read'],
      [localVrt, notAllowed],
      [`s3://${stack.names.bucket}/images/fetches.vrt`, notAllowed],
    ];
    for (const [i, [url]] of unusable.entries()) await imageQueue.send(request(`job-unusable-${i}`, url));
    for (const [i, [url, why]] of unusable.entries()) {
      const job = await untilEnded(`job-unusable-${i}:${url}`);
      expect(job.image_status).toBe('FAILED');
      expect(job.message).toContain(why);
      const events = stack.sns.messages(stack.topicArns.image).filter((m) => m.attributes.job_id?.stringValue === `job-unusable-${i}`);
      expect(events.map((m) => m.attributes.status.stringValue)).toEqual(['STARTED', 'FAILED']);
      expect(events[1].message).toContain(why);
    }
    const failedDlq = new Map<string, Record<string, string>>();
    await waitFor('the unusable requests in the dead-letter queue', async () => {
      for (const m of await dlq.receive({ max: 10, waitSeconds: 1, visibilityTimeout: 60 })) {
        failedDlq.set(JSON.parse(m.body).jobId, m.attributes);
        await dlq.delete(m.receiptHandle);
      }
      return failedDlq.size >= unusable.length;
    }, 30_000, 0);
    unusable.forEach(([, why], i) => expect(failedDlq.get(`job-unusable-${i}`)?.reason).toContain(why));
    // GDAL never fetched the VRTs' source.
    expect(fetched).toBe(0);
    bait.close();

    // Still running and healthy, no job was recorded, the image queue is empty; then a valid request succeeds.
    expect(serve.process.exitCode).toBeNull();
    expect((await fetch(serve.healthUrl)).status).toBe(200);
    expect(await jobs.get(`x:${good.imageUrls[0]}`)).toBeUndefined();
    const image = join(dir, 'small.tif');
    writeTestImage(image, 600, 400);
    const valid = request('job-after-dlq', image, { imageProcessorTileFormat: 'PNG' });
    await imageQueue.send(valid);
    const job = await untilEnded(`job-after-dlq:${image}`);
    expect(job.image_status).toBe('SUCCESS');
    const out = featuresOf(await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', 'job-after-dlq')));
    expect(out).toHaveLength(job.feature_count as number);
    expect(out.length).toBeGreaterThan(0);
  });

  test('a region message delivered again changes neither the region counts nor the features', async () => {
    const started = Date.now();
    const image = join(dir, 'regions.tif');
    writeTestImage(image, 2048, 1024);
    const jobId = 'job-redelivery';
    const imageId = `${jobId}:${image}`;
    // Tiles of 256/32 in regions of 1024: 3 regions. Some model latency so regions overlap in time.
    const body = request(jobId, image, { imageProcessorTileSize: 256, imageProcessorTileOverlap: 32, imageProcessorTileFormat: 'PNG', imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint, mock_latency_mean=60' } });
    const plan = planTiling({ bounds: { x: 0, y: 0, width: 2048, height: 1024 }, tileSize: { width: 256, height: 256 }, overlap: { width: 32, height: 32 }, regionSize: { width: 1024, height: 1024 } });
    expect(plan.regions.length).toBe(3);
    const tileCount = allTiles(plan).length;
    await imageQueue.send(body);

    const regionQueue = new SqsQueue(stack.clients.sqs, stack.queueUrls.region);
    const features = new FeatureTable(stack.clients.dynamodb, stack.names.featureTable);
    const snapshotFeatures = async () => {
      const items: string[] = [];
      for await (const item of features.itemsOfImage(imageId)) items.push(`${item.rangeKey} ${item.features.join('\n')}`);
      return items.sort();
    };

    // As soon as one region has finished, deliver its message again (the job is usually still running then).
    const firstDone = await waitFor('a finished region', async () => (await queryItems(stack, stack.names.regionTable, 'image_id', imageId)).find((r) => r.region_status === 'SUCCESS'), 60_000, 50);
    const redelivered = firstDone.region_request as string;
    const stillRunning = (await jobs.get(imageId))!.end_time === undefined;
    await regionQueue.send(redelivered);

    const job = await untilEnded(imageId);
    expect(job).toMatchObject({ image_status: 'SUCCESS', region_count: 3, region_success: 3, region_error: 0, feature_count: tileCount });
    const before = await queryItems(stack, stack.names.regionTable, 'image_id', imageId);
    const featuresBefore = await snapshotFeatures();
    const output = await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId));
    // Exactly one feature per tile (centerpoint), none lost, none duplicated.
    expect(featuresOf(output)).toHaveLength(tileCount);

    // And once more after the job ended.
    await waitFor('the first redelivery to be handled', () => serve.logs.some((l) => l.region_id === firstDone.region_id && /region already finished|job that has ended/.test(l.msg)), 30_000);
    await regionQueue.send(redelivered);
    await waitFor('the second redelivery to be handled', () => serve.logs.filter((l) => l.region_id === firstDone.region_id && /region already finished|job that has ended/.test(l.msg)).length >= 2, 30_000);
    await waitFor('the region queue to be empty', async () => (await regionQueue.counts()).visible === 0, 30_000);

    const after = await queryItems(stack, stack.names.regionTable, 'image_id', imageId);
    const strip = (items: Record<string, unknown>[]) => items.map(({ last_updated_time: _t, region_retry_count: _r, ...rest }) => rest);
    expect(strip(after)).toEqual(strip(before));
    expect(await snapshotFeatures()).toEqual(featuresBefore);
    const jobAfter = (await jobs.get(imageId))!;
    expect(jobAfter).toMatchObject({ region_success: 3, region_error: 0, image_status: 'SUCCESS', end_time: job.end_time, feature_count: tileCount });
    expect(jobAfter.completed_region_ids).toEqual(job.completed_region_ids);
    expect(await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId))).toBe(output);
    const regionEvents = stack.sns.messages(stack.topicArns.region).filter((m) => m.attributes.job_id?.stringValue === jobId);
    expect(regionEvents).toHaveLength(3);
    const paths = serve.logs.filter((l) => l.region_id === firstDone.region_id && /region already finished|job that has ended/.test(l.msg)).map((l) => l.msg);
    console.log(`redelivery test: ${Date.now() - started} ms; first redelivery sent while the job was ${stillRunning ? 'running' : 'ended'}; handled as: ${paths.join(' / ')}`);
  });

  test('SIGTERM: the container stops taking work, hands its in-flight message back at once and exits 0', async () => {
    const started = Date.now();
    // A second container with a short stop grace, so in-flight work is handed back rather than finished.
    const other = await startServe('serve-2', { ...stack.env, REGION_SIZE: '(1024, 1024)', WORKERS: '2', TESSERA_WORKER_THREADS: '1', TESSERA_VISIBILITY_TIMEOUT_SECONDS: '10', TESSERA_STOP_GRACE_SECONDS: '0.5', TESSERA_LOCAL_IMAGE_DIR: dir });
    const first = serve;
    const image = join(dir, 'sigterm.tif');
    writeTestImage(image, 700, 500);
    const jobId = 'job-sigterm';
    const imageId = `${jobId}:${image}`;
    await imageQueue.send(request(jobId, image, { imageProcessorTileSize: 256, imageProcessorTileOverlap: 32, imageProcessorTileFormat: 'PNG', imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint,mock_latency_mean=800' } }));
    const holder = await Promise.race([first, other].map((s) => s.waitForLog((l) => l.msg === 'region started' && l.image_id === imageId, 30_000).then(() => s)));
    // While its first region runs: OSML's outstanding record (one attempt, one region, none complete) and the
    // endpoint statistics (this job's one region in progress).
    const outstanding = new OutstandingJobsTable(stack.clients.dynamodb, stack.names.outstandingTable);
    const record = await outstanding.get(modelUrl(), jobId);
    expect(record).toMatchObject({ endpoint_id: modelUrl(), job_id: jobId, num_attempts: 1, region_count: 1, regions_complete: [], request_payload: { job_id: jobId, image_id: imageId, image_url: image, model_name: modelUrl(), tile_size: [256, 256], tile_overlap: [32, 32], tile_format: 'PNG' } });
    expect(record!.last_attempt).toBeGreaterThanOrEqual(record!.request_time as number);
    expect(record!.request_time).toBeGreaterThanOrEqual(Math.floor(started / 1000));
    expect(record!.expire_time).toBeGreaterThan(Date.now() / 1000);
    expect(await endpointStatistics(modelUrl())).toMatchObject({ regions_in_progress: 1, max_regions: 2 });
    const taker = holder === first ? other : first;
    // The holder must not stop for good: keep the suite's main container if it is the taker.
    if (holder === first) serve = other;
    const stopAt = Date.now();
    const code = await holder.stop();
    const stopMs = Date.now() - stopAt;
    expect(code).toBe(0);
    expect(holder.logs.some((l) => l.msg.startsWith('stopping'))).toBe(true);
    expect(holder.logs.some((l) => l.msg === 'stopped')).toBe(true);
    // Handed back (visibility 0): the other container resumes it well before the 10 s lease would have expired.
    const resumed = await taker.waitForLog((l) => l.msg === 'image request redelivered: resuming' && l.image_id === imageId, 30_000);
    expect(Date.parse(resumed.time as string) - stopAt).toBeLessThan(8000);
    const job = await untilEnded(imageId);
    expect(job.image_status).toBe('SUCCESS');
    await waitFor('the outstanding record removed', async () => (await outstanding.get(modelUrl(), jobId)) === undefined, 15_000);
    const out = featuresOf(await readS3Text(stack, stack.names.bucket, s3ObjectKey('results/', jobId)));
    expect(out).toHaveLength(job.feature_count as number);
    const plan = planTiling({ bounds: { x: 0, y: 0, width: 700, height: 500 }, tileSize: { width: 256, height: 256 }, overlap: { width: 32, height: 32 }, regionSize: { width: 1024, height: 1024 } });
    expect(out).toHaveLength(allTiles(plan).length);
    console.log(`SIGTERM test: ${holder.name} stopped in ${stopMs} ms (exit ${code}); ${taker.name} resumed ${Date.parse(resumed.time as string) - stopAt} ms after the signal; test ${Date.now() - started} ms`);
  });
});
