// Endpoint capacity admission (OSML NEW §11.4) in `tessera serve` against the local stack, and the SageMaker runtime
// detector end to end (SM_ENDPOINT through TESSERA_SAGEMAKER_ENDPOINT = the loopback model server).
//
// Capacity is set so that no job fits (HTTP concurrency 2, load of a 1-region job = 1 × 4): the first job runs
// anyway (single-job exception), a second job on the same endpoint waits until the first ends, then runs. The
// image queue's redrive policy moves a message to the DLQ after 2 receives, and the throttled job is looked at
// every second for several seconds: it must never get there.
//
// SageMaker capacity comes from DescribeEndpoint/ListTags. Nothing real can serve the SageMaker control plane here:
// a loopback HTTP server on 127.0.0.1 speaking its awsJson1_1 protocol stands in (test/helpers/sagemaker-api.ts),
// reached through TESSERA_SAGEMAKER_API_ENDPOINT.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { SqsQueue } from '../src/queues/sqs-queue.js';
import { JobTable, type JobItem } from '../src/state/job-table.js';
import { EndpointCapacity, jobLoad, parseInstanceCounts, ConfiguredCapacity, DEFAULT_THROTTLING, INSTANCE_CONCURRENCY_TAG, SageMakerCapacity, targetLoad } from '../src/service/endpoint-capacity.js';
import { createSageMakerClient } from '../src/aws/clients.js';
import { startFakeSageMakerApi, type FakeSageMakerApi } from './helpers/sagemaker-api.js';
import { tempDir } from './helpers/cli.js';
import { featuresOf, readS3Text, startServe, waitFor, writeTestImage, type ServeProcess } from './helpers/serve.js';
import { s3ObjectKey } from '../src/sinks/s3-sink.js';

let stack: LocalStack;
let model: ModelServer;
let serve: ServeProcess;
let serve2: ServeProcess;
let smApi: FakeSageMakerApi;
let jobs: JobTable;
let imageQueue: SqsQueue;
let dir: string;
let image: string;

beforeAll(async () => {
  dir = tempDir('tessera-throttle-');
  image = join(dir, 'small.tif');
  writeTestImage(image, 1024, 1024);
  [stack, model, smApi] = await Promise.all([
    startLocalStack({ visibilityTimeoutSeconds: 10, maxReceiveCount: 2 }),
    startModelServer({ port: 0 }),
    startFakeSageMakerApi({
      // (3 + 2) instances × tag 4 = capacity 20
      'centerpoint-endpoint': { variants: [{ VariantName: 'a', CurrentInstanceCount: 3 }, { VariantName: 'b', CurrentInstanceCount: 2 }], tagPages: [[{ Key: INSTANCE_CONCURRENCY_TAG, Value: '4' }]] },
      // 2 instances × tag 4 = capacity 8: two 1-region jobs (load 4 each)
      'admission-endpoint': { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 2 }], tagPages: [[{ Key: INSTANCE_CONCURRENCY_TAG, Value: '4' }]] },
    }),
  ]);
  jobs = new JobTable(stack.clients.dynamodb, stack.names.jobTable);
  imageQueue = new SqsQueue(stack.clients.sqs, stack.queueUrls.image);
  // Two containers: each takes one image request at a time (as OSML), so the second job is looked at while the first runs.
  const env = {
    ...stack.env,
    REGION_SIZE: '(4096, 4096)',
    WORKERS: '1',
    TESSERA_WORKER_THREADS: '1',
    TESSERA_CONCURRENT_REGIONS: '2',
    TESSERA_VISIBILITY_TIMEOUT_SECONDS: '10',
    TESSERA_STOP_GRACE_SECONDS: '0.5',
    // The queues dead-letter after 2 receives (above): fail a job on its 2nd delivery, before SQS takes it away.
    TESSERA_MAX_DELIVERIES: '2',
    TESSERA_SAGEMAKER_ENDPOINT: model.url,
    TESSERA_SAGEMAKER_API_ENDPOINT: smApi.url,
    DEFAULT_HTTP_ENDPOINT_CONCURRENCY: '2',
    TILE_WORKERS_PER_INSTANCE: '4',
    TESSERA_THROTTLE_RETRY_SECONDS: '1',
    TESSERA_LOCAL_IMAGE_DIR: dir,
  };
  [serve, serve2] = await Promise.all([startServe('serve-1', env), startServe('serve-2', env)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([serve?.stop(), serve2?.stop()]);
  await model?.close();
  await smApi?.close();
  await stack?.stop();
});

function request(jobId: string, extra: Record<string, unknown> = {}) {
  return {
    jobId,
    imageUrls: [image],
    outputs: [{ type: 'S3', bucket: stack.names.bucket, prefix: 'throttle/' }],
    imageProcessor: { name: `${model.url}/invocations`, type: 'HTTP_ENDPOINT' },
    // 4 tiles, one model call at a time, ~1.2 s each: the first job runs for several seconds.
    imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint,mock_latency_mean=1200,mock_latency_std=1' },
    imageProcessorTileSize: 512,
    imageProcessorTileOverlap: 0,
    imageProcessorTileFormat: 'PNG',
    ...extra,
  };
}

const untilEnded = (imageId: string, timeoutMs = 90_000) =>
  waitFor(`job ${imageId} to end`, async () => {
    const job = await jobs.get(imageId);
    return job?.end_time !== undefined ? job : undefined;
  }, timeoutMs, 150);

describe('endpoint capacity (unit)', () => {
  test('capacity, target and load follow OSML', async () => {
    const cfg = { ...DEFAULT_THROTTLING, instanceCounts: parseInstanceCounts('ep-a=3, ep-b=1')! };
    const est = new ConfiguredCapacity(cfg);
    expect(await est.capacity('HTTP_ENDPOINT', 'http://x')).toBe(10);
    expect(await est.capacity('SM_ENDPOINT', 'ep-a')).toBe(6);
    expect(await est.capacity('SM_ENDPOINT', 'unknown')).toBe(2);
    expect(targetLoad(10, { targetPercentage: 0.75 })).toBe(7);
    expect(jobLoad(5, cfg)).toBe(20);
    expect(parseInstanceCounts('nope')).toBeNull();
  });

  test('admission is atomic across concurrent callers and idempotent per image', async () => {
    const fakeJobs = { get: async (imageId: string) => ({ image_id: imageId }) as JobItem };
    const cfg = { ...DEFAULT_THROTTLING, httpEndpointConcurrency: 8 }; // room for two 1-region jobs (load 4)
    const cap = new EndpointCapacity(stack.clients.dynamodb, stack.names.endpointTable, fakeJobs, cfg);
    const endpoint = 'http://unit-test/invocations';
    const decisions = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: id, jobId: id, regionCount: 1 })));
    expect(decisions.filter((d) => d.admitted)).toHaveLength(2);
    expect((await cap.running(endpoint)).map((j) => j.load)).toEqual([4, 4]);
    const admittedId = ['a', 'b', 'c', 'd', 'e'][decisions.findIndex((d) => d.admitted)];
    const again = await cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: admittedId, jobId: admittedId, regionCount: 1 });
    expect(again).toMatchObject({ admitted: true, already: true });
    await cap.release(endpoint, admittedId);
    await cap.release(endpoint, admittedId);
    expect(await cap.running(endpoint)).toHaveLength(1);
  }, 30_000);

  test('a SageMaker endpoint admits as many jobs as its DescribeEndpoint capacity holds', async () => {
    const fakeJobs = { get: async (imageId: string) => ({ image_id: imageId }) as JobItem };
    const sagemaker = createSageMakerClient({ region: 'us-east-1', endpoints: { sagemakerApi: smApi.url }, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    const cap = new EndpointCapacity(stack.clients.dynamodb, stack.names.endpointTable, fakeJobs, DEFAULT_THROTTLING, new SageMakerCapacity(sagemaker, DEFAULT_THROTTLING));
    const endpoint = 'admission-endpoint';
    const admit = (id: string) => cap.admit({ endpoint, invokeMode: 'SM_ENDPOINT', imageId: id, jobId: id, regionCount: 1 });
    expect((await admit('sm-a')).admitted).toBe(true);
    expect((await admit('sm-b')).admitted).toBe(true); // with the configured default (1 instance × 2) it would wait
    expect(await admit('sm-c')).toMatchObject({ admitted: false, capacity: 8, target: 8, used: 8, load: 4, others: 2 });
    expect(smApi.count('DescribeEndpoint', endpoint)).toBe(1); // cached across the three admissions
  }, 30_000);

  test('entries of ended jobs are pruned when they would block a job', async () => {
    const ended = new Set<string>();
    const fakeJobs = { get: async (imageId: string) => ({ image_id: imageId, ...(ended.has(imageId) ? { end_time: 1 } : {}) }) as JobItem };
    const cap = new EndpointCapacity(stack.clients.dynamodb, stack.names.endpointTable, fakeJobs, { ...DEFAULT_THROTTLING, httpEndpointConcurrency: 4 });
    const endpoint = 'http://prune-test/invocations';
    const admit = (id: string) => cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: id, jobId: id, regionCount: 1 });
    expect((await admit('x')).admitted).toBe(true);
    expect((await admit('y')).admitted).toBe(false);
    ended.add('x'); // x ended without releasing (a crash)
    expect((await admit('y')).admitted).toBe(true);
    expect((await cap.running(endpoint)).map((j) => j.imageId)).toEqual(['y']);
  }, 30_000);
});

describe('tessera serve with endpoint throttling', () => {
  test('a lone job runs over capacity; a second job on the endpoint waits for it, then runs, and is never dead-lettered', async () => {
    const a = request('throttle-a');
    const b = request('throttle-b');
    const idA = `throttle-a:${image}`;
    const idB = `throttle-b:${image}`;
    await imageQueue.send(a);
    const isAdmittedA = (l: { msg: string; image_id?: unknown }) => l.msg === 'endpoint capacity: admitted (only job on the endpoint)' && l.image_id === idA;
    await waitFor('job A admitted', () => [...serve.logs, ...serve2.logs].some(isAdmittedA), 30_000);
    await imageQueue.send(b);
    const [jobA, jobB] = await Promise.all([untilEnded(idA), untilEnded(idB)]);
    expect(jobA.image_status).toBe('SUCCESS');
    expect(jobB.image_status).toBe('SUCCESS');

    // Both containers' logs, in time order.
    const logs = [...serve.logs, ...serve2.logs].sort((x, y) => Date.parse(String(x.time)) - Date.parse(String(y.time)));
    const throttled = logs.filter((l) => l.msg === 'endpoint capacity: throttled, request will be looked at again' && l.image_id === idB);
    expect(throttled.length).toBeGreaterThanOrEqual(2); // more looks than the queue's maxReceiveCount allows receives
    expect(throttled[0]).toMatchObject({ capacity: 2, target: 2, load: 4, used: 4, other_jobs: 1 });
    const aFinished = logs.findIndex((l) => l.msg === 'image finished' && l.image_id === idA);
    const bAdmitted = logs.findIndex((l) => l.msg.startsWith('endpoint capacity: admitted') && l.image_id === idB);
    expect(aFinished).toBeGreaterThanOrEqual(0);
    expect(bAdmitted).toBeGreaterThan(aFinished);
    expect(logs.findIndex((l) => l.msg === 'image in progress' && l.image_id === idB)).toBeGreaterThan(aFinished);

    // Throttles metric (EMF on stdout): where OSML NEW's capacity check emits it, {Operation: Scheduling, ModelName}.
    const emf = (serve.stdout() + serve2.stdout()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const throttles = emf.filter((e) => e.Throttles !== undefined);
    expect(throttles.length).toBeGreaterThanOrEqual(1);
    for (const e of throttles) {
      expect(e).toMatchObject({ Operation: 'Scheduling', ModelName: b.imageProcessor.name, imageId: idB });
      expect(e._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Operation', 'ModelName']]);
    }
    // One sample per throttled look, as logged.
    expect(throttles.flatMap((e) => [e.Throttles].flat())).toEqual(throttled.map(() => 1));
    // Nothing in the DLQ: throttling did not burn deliveries.
    const dlq = new SqsQueue(stack.clients.sqs, stack.queueUrls.imageDlq);
    expect(await dlq.receive({ max: 10, waitSeconds: 1, visibilityTimeout: 1 })).toHaveLength(0);
    // Both jobs released their load.
    const cap = new EndpointCapacity(stack.clients.dynamodb, stack.names.endpointTable, jobs, DEFAULT_THROTTLING);
    expect(await cap.running(a.imageProcessor.name)).toEqual([]);
  }, 120_000);

  test('an SM_ENDPOINT request is served through the SageMaker runtime API (TESSERA_SAGEMAKER_ENDPOINT)', async () => {
    const r = request('sm-job', {
      imageProcessor: { name: 'centerpoint-endpoint', type: 'SM_ENDPOINT' },
      imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint', NotAParameter: 'dropped' },
    });
    const imageId = `sm-job:${image}`;
    await imageQueue.send(r);
    const job = await untilEnded(imageId);
    expect(job.image_status).toBe('SUCCESS');
    expect(job.model_invoke_mode).toBe('SM_ENDPOINT');
    // Admitted with the capacity read from DescribeEndpoint/ListTags on the (loopback) control plane.
    const admitted = [...serve.logs, ...serve2.logs].find((l) => l.msg.startsWith('endpoint capacity: admitted') && l.image_id === imageId);
    expect(admitted).toMatchObject({ capacity: 20, target: 20, load: 4 });
    expect(smApi.count('DescribeEndpoint', 'centerpoint-endpoint')).toBeGreaterThanOrEqual(1);
    const text = await readS3Text(stack, stack.names.bucket, s3ObjectKey('throttle/', 'sm-job'));
    const features = featuresOf(text);
    expect(features.length).toBeGreaterThanOrEqual(1);
    // centerpoint answers one box in the middle of each 512 tile
    expect(features.map((f) => f.properties.imageBBox).sort()).toContainEqual([204.8, 204.8, 307.2, 307.2]);
  }, 90_000);
});
