// imageReadRole through `tessera serve` (issue #5): three image requests at once, two naming different read roles
// and one naming none, each image planned in several regions (the first processed by the image handler, the others
// taken from the region queue). Every S3 request for an image, the service's HEAD and GDAL's reads in both handlers,
// must be signed with the keys of that request's role, or with the service's keys when it names none.
// The local stack on 127.0.0.1, with a recording proxy in front of its s3rver and a loopback STS mock
// (test/helpers/s3-read-role.ts says why it is a mock).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import S3rverAccount from 's3rver/lib/models/account.js';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { startModelServer, type ModelServer } from '../src/model-server/index.js';
import { SqsQueue } from '../src/queues/sqs-queue.js';
import { JobTable, type JobItem } from '../src/state/job-table.js';
import { realFixture } from './helpers/cli.js';
import { startServe, waitFor, type ServeProcess } from './helpers/serve.js';
import { startMockSts, startRecordingProxy, type MockSts, type RecordingProxy, type SeenS3Request } from './helpers/s3-read-role.js';

const ROLE_A = 'arn:aws:iam::123456789012:role/servicereada';
const ROLE_B = 'arn:aws:iam::123456789012:role/servicereadb';

let stack: LocalStack;
let model: ModelServer;
let proxy: RecordingProxy;
let sts: MockSts;
let serve: ServeProcess;
let jobs: JobTable;
let imageQueue: SqsQueue;

beforeAll(async () => {
  [stack, model] = await Promise.all([startLocalStack({ visibilityTimeoutSeconds: 10 }), startModelServer({ port: 0 })]);
  proxy = await startRecordingProxy(Number(new URL(stack.config.endpoints!.s3!).port));
  // The stack's s3rver runs in this process: the keys the STS mock issues are registered with it directly.
  sts = await startMockSts((id, secret) => S3rverAccount.DUMMY_ACCOUNT.createKeyPair(id, secret));
  jobs = new JobTable(stack.clients.dynamodb, stack.names.jobTable);
  imageQueue = new SqsQueue(stack.clients.sqs, stack.queueUrls.image);
  const image = readFileSync(realFixture('i_3001a.ntf'));
  for (const key of ['a.ntf', 'b.ntf', 'none.ntf']) {
    await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.names.bucket, Key: `images/${key}`, Body: image }));
  }
  serve = await startServe('serve-read-role', {
    ...stack.env,
    // Both the SDK's S3 client and GDAL's /vsis3/ go through the proxy; AssumeRole goes to the mock.
    TESSERA_S3_ENDPOINT: proxy.url,
    AWS_S3_ENDPOINT: proxy.hostPort,
    TESSERA_STS_ENDPOINT: sts.url,
    REGION_SIZE: '(768, 768)',
    WORKERS: '2',
    TESSERA_WORKER_THREADS: '1',
    TESSERA_CONCURRENT_REGIONS: '3',
    TESSERA_VISIBILITY_TIMEOUT_SECONDS: '10',
    TESSERA_STOP_GRACE_SECONDS: '0.5',
  });
});

afterAll(async () => {
  await serve?.stop();
  await model?.close();
  await proxy?.close();
  await sts?.close();
  await stack?.stop();
});

function request(jobId: string, key: string, imageReadRole?: string) {
  return {
    jobId,
    jobName: `read role ${jobId}`,
    imageUrls: [`s3://${stack.names.bucket}/images/${key}`],
    ...(imageReadRole ? { imageReadRole } : {}),
    outputs: [{ type: 'S3', bucket: stack.names.bucket, prefix: `results/${jobId}/` }],
    imageProcessor: { name: `${model.url}/invocations`, type: 'HTTP_ENDPOINT' },
    imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint' },
    imageProcessorTileSize: 512,
    imageProcessorTileOverlap: 128,
    imageProcessorTileFormat: 'NITF',
    featureProperties: [],
  };
}

const untilEnded = (imageId: string) =>
  waitFor(`job ${imageId} to end`, async () => {
    const job = await jobs.get(imageId);
    return job?.end_time !== undefined ? job : undefined;
  }, 90_000, 200);

describe('tessera serve with imageReadRole', () => {
  test('three jobs at once: each image is read (HEAD and GDAL, in the image and the region handler) with its own keys', async () => {
    const bodies = [request('job-read-a', 'a.ntf', ROLE_A), request('job-read-b', 'b.ntf', ROLE_B), request('job-read-none', 'none.ntf')];
    await Promise.all(bodies.map((b) => imageQueue.send(b)));
    const ended: JobItem[] = await Promise.all(bodies.map((b) => untilEnded(`${b.jobId}:${b.imageUrls[0]}`)));
    for (const job of ended) {
      expect(job.image_status, JSON.stringify(job)).toBe('SUCCESS');
      expect(job.region_count).toBeGreaterThan(1);
    }
    expect(ended[0].image_read_role).toBe(ROLE_A);

    // Regions other than the first were processed from the region queue, in the region handler.
    for (const b of bodies) {
      const started = serve.logs.filter((l) => l.msg === 'region started' && l.job_id === b.jobId);
      expect(started.length).toBeGreaterThan(1);
    }
    expect(serve.logs.some((l) => /imageReadRole is not applied/.test(l.msg))).toBe(false);

    const of = (key: string): SeenS3Request[] => proxy.seen.filter((r) => r.path.startsWith(`/${stack.names.bucket}/images/${key}`));
    const keysOf = (requests: SeenS3Request[]) => [...new Set(requests.map((r) => `${r.keyId} ${r.token ?? '(no token)'}`))];
    const a = sts.issued.filter((k) => k.roleArn === ROLE_A);
    const b = sts.issued.filter((k) => k.roleArn === ROLE_B);
    expect(a).toHaveLength(1); // one session per role for the whole job
    expect(b).toHaveLength(1);
    expect(keysOf(of('a.ntf'))).toEqual([`${a[0].accessKeyId} ${a[0].sessionToken}`]);
    expect(keysOf(of('b.ntf'))).toEqual([`${b[0].accessKeyId} ${b[0].sessionToken}`]);
    expect(keysOf(of('none.ntf'))).toEqual([`${stack.env.AWS_ACCESS_KEY_ID} (no token)`]);
    for (const key of ['a.ntf', 'b.ntf', 'none.ntf']) {
      expect(of(key).filter((r) => r.method === 'HEAD').length, key).toBeGreaterThanOrEqual(1);
      expect(of(key).filter((r) => r.method === 'GET' && r.range).length, key).toBeGreaterThanOrEqual(1);
      // (a 404 for a side-car file GDAL looks for next to the image is fine; the image itself must never be refused)
      expect(of(key).filter((r) => r.path.endsWith(key)).every((r) => r.status !== undefined && r.status < 400), key).toBe(true);
    }
    // The roles were assumed by the service, with OSML's session name.
    expect(sts.calls.every((c) => c.keyId === stack.env.AWS_ACCESS_KEY_ID && c.form.get('RoleSessionName') === 'AWSOversightMLModelRunner')).toBe(true);
  });
});
