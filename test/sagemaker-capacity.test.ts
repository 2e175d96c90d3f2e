// SageMaker endpoint capacity from DescribeEndpoint + ListTags (OSML NEW's EndpointCapacityEstimator, reference
// §11.4). Nothing real can serve the SageMaker control plane here: the allowed stand-in is a loopback HTTP server on
// 127.0.0.1 speaking the awsJson1_1 protocol (test/helpers/sagemaker-api.ts). Every client gets that explicit
// endpoint and dummy credentials; no request leaves the machine.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer } from 'node:net';
import { awsConfigFromEnv, createSageMakerClient, type AwsConfig } from '../src/aws/clients.js';
import { DEFAULT_THROTTLING, INSTANCE_CONCURRENCY_TAG, SageMakerCapacity, type ThrottlingConfig } from '../src/service/endpoint-capacity.js';
import { startFakeSageMakerApi, type FakeSageMakerApi } from './helpers/sagemaker-api.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const tag = (value: string) => ({ Key: INSTANCE_CONCURRENCY_TAG, Value: value });

let api: FakeSageMakerApi;
let aws: AwsConfig;

beforeAll(async () => {
  api = await startFakeSageMakerApi({
    'two-variants': { variants: [{ VariantName: 'a', CurrentInstanceCount: 3 }, { VariantName: 'b', CurrentInstanceCount: 2 }], tagPages: [[{ Key: 'team', Value: 'x' }, tag('4')]] },
    untagged: { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 3 }] },
    serverless: { variants: [{ VariantName: 'AllTraffic', CurrentServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 7 } }], tagPages: [[tag('50')]] },
    mixed: { variants: [{ VariantName: 'sl', CurrentServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 5 } }, { VariantName: 'ec2', CurrentInstanceCount: 2 }], tagPages: [[tag('3')]] },
    'tag-on-page-2': { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 1 }], tagPages: [[{ Key: 'a', Value: '1' }], [tag('5')]] },
    'bad-tag': { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 2 }], tagPages: [[tag('lots')]] },
    'no-variants-yet': { variants: [] },
    denied: { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 9 }], describeError: 'AccessDeniedException' },
    'tags-denied': { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 2 }], listTagsError: 'AccessDeniedException' },
    'listed-in-config': { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 9 }] },
  });
  aws = { region: 'us-east-1', endpoints: { sagemakerApi: api.url }, credentials, maxAttempts: 1 };
});

afterAll(async () => {
  await api?.close();
});

function estimator(config: Partial<ThrottlingConfig> = {}, now: () => number = Date.now) {
  const warnings: { details: Record<string, unknown>; message: string }[] = [];
  const logger = { info() {}, error() {}, warn: (details: object, message: string) => warnings.push({ details: details as Record<string, unknown>, message }) };
  const est = new SageMakerCapacity(createSageMakerClient(aws), { ...DEFAULT_THROTTLING, ...config }, logger, now);
  return { est, warnings };
}

describe('SageMaker endpoint capacity (DescribeEndpoint + ListTags)', () => {
  test('sum over variants of instances × the osml:instance-concurrency tag; DEFAULT_INSTANCE_CONCURRENCY without it', async () => {
    const { est, warnings } = estimator();
    expect(await est.capacity('SM_ENDPOINT', 'two-variants')).toBe(20); // (3 + 2) × 4
    expect(await est.capacity('SM_ENDPOINT', 'untagged')).toBe(6); // 3 × 2
    expect(await est.capacity('SM_ENDPOINT', 'tag-on-page-2')).toBe(5); // 1 × 5, the tag read from ListTags' second page
    expect(await est.capacity('SM_ENDPOINT', 'no-variants-yet')).toBe(0); // nothing serving yet: 0 (OSML); the single-job exception still runs one job
    expect(warnings).toEqual([]);
    expect([api.count('DescribeEndpoint', 'two-variants'), api.count('ListTags', 'two-variants')]).toEqual([1, 1]);
    expect(api.count('ListTags', 'tag-on-page-2')).toBe(2);
  });

  test('DEFAULT_INSTANCE_CONCURRENCY from the configuration applies to untagged endpoints', async () => {
    const { est } = estimator({ instanceConcurrency: 5, capacityCacheSeconds: 0 });
    expect(await est.capacity('SM_ENDPOINT', 'untagged')).toBe(15); // 3 × 5
  });

  test('a serverless variant counts its MaxConcurrency (no tag is read for it)', async () => {
    const { est } = estimator();
    expect(await est.capacity('SM_ENDPOINT', 'serverless')).toBe(7);
    expect(api.count('ListTags', 'serverless')).toBe(0);
    expect(await est.capacity('SM_ENDPOINT', 'mixed')).toBe(11); // 5 + 2 × 3
  });

  test('AccessDeniedException on DescribeEndpoint: 1 instance × DEFAULT_INSTANCE_CONCURRENCY and a warning', async () => {
    const { est, warnings } = estimator();
    expect(await est.capacity('SM_ENDPOINT', 'denied')).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toBe('endpoint capacity: DescribeEndpoint failed, using a fallback capacity');
    expect(warnings[0].details).toMatchObject({ endpoint: 'denied', capacity: 2, errorName: 'AccessDeniedException' });
    // The fallback is kept for the cache time: no second failing call (and no second warning) per admission.
    expect(await est.capacity('SM_ENDPOINT', 'denied')).toBe(2);
    expect(api.count('DescribeEndpoint', 'denied')).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  test('ListTags denied: the instance counts are kept, × DEFAULT_INSTANCE_CONCURRENCY, with a warning', async () => {
    const { est, warnings } = estimator();
    expect(await est.capacity('SM_ENDPOINT', 'tags-denied')).toBe(4); // 2 × 2
    expect(warnings.map((w) => w.message)).toEqual(['endpoint capacity: ListTags failed, using DEFAULT_INSTANCE_CONCURRENCY']);
  });

  test('a tag that is not a positive integer is ignored with a warning', async () => {
    const { est, warnings } = estimator();
    expect(await est.capacity('SM_ENDPOINT', 'bad-tag')).toBe(4); // 2 × 2
    expect(warnings[0]).toMatchObject({ message: 'endpoint capacity: tag is not a positive integer, using DEFAULT_INSTANCE_CONCURRENCY', details: { value: 'lots' } });
  });

  test('the SageMaker API unreachable (connection refused): fallback, never an error', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (_d: object, m: string) => warnings.push(m) };
    const client = createSageMakerClient({ region: 'us-east-1', endpoints: { sagemakerApi: `http://127.0.0.1:${port}` }, credentials, maxAttempts: 1 });
    const est = new SageMakerCapacity(client, DEFAULT_THROTTLING, logger);
    expect(await est.capacity('SM_ENDPOINT', 'two-variants')).toBe(2);
    expect(warnings).toEqual(['endpoint capacity: DescribeEndpoint failed, using a fallback capacity']);
  });

  test('cached per endpoint: no second request within the cache time, one after it; concurrent lookups share one', async () => {
    let now = 1_000_000;
    const { est } = estimator({ capacityCacheSeconds: 60 }, () => now);
    const before = api.count('DescribeEndpoint', 'untagged');
    const beforeTags = api.count('ListTags', 'untagged');
    expect(await Promise.all([1, 2, 3].map(() => est.capacity('SM_ENDPOINT', 'untagged')))).toEqual([6, 6, 6]);
    now += 59_000;
    expect(await est.capacity('SM_ENDPOINT', 'untagged')).toBe(6);
    expect(api.count('DescribeEndpoint', 'untagged') - before).toBe(1);
    expect(api.count('ListTags', 'untagged') - beforeTags).toBe(1);
    now += 2_000; // past 60 s: read again
    expect(await est.capacity('SM_ENDPOINT', 'untagged')).toBe(6);
    expect(api.count('DescribeEndpoint', 'untagged') - before).toBe(2);
  });

  test('the endpoint scaled out: the new count is seen after the cache time; an API failure then keeps the last value read', async () => {
    api.endpoints.set('scaling', { variants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 1 }], tagPages: [[tag('4')]] });
    let now = 5_000_000;
    const { est, warnings } = estimator({ capacityCacheSeconds: 300 }, () => now);
    expect(await est.capacity('SM_ENDPOINT', 'scaling')).toBe(4);
    api.endpoints.get('scaling')!.variants[0].CurrentInstanceCount = 3;
    now += 299_000;
    expect(await est.capacity('SM_ENDPOINT', 'scaling')).toBe(4); // still cached (OSML's 300 s)
    now += 2_000;
    expect(await est.capacity('SM_ENDPOINT', 'scaling')).toBe(12);
    api.endpoints.get('scaling')!.describeError = 'AccessDeniedException';
    now += 301_000;
    expect(await est.capacity('SM_ENDPOINT', 'scaling')).toBe(12); // stale beats the default
    expect(warnings[0].details).toMatchObject({ endpoint: 'scaling', capacity: 12, capacity_from: 'last value read' });
  });

  test('HTTP endpoints and endpoints listed in TESSERA_SM_INSTANCE_COUNTS are not looked up', async () => {
    const { est } = estimator({ instanceCounts: { 'listed-in-config': 3 } });
    const before = api.requests.length;
    expect(await est.capacity('HTTP_ENDPOINT', 'http://127.0.0.1:1/invocations')).toBe(10);
    expect(await est.capacity('SM_ENDPOINT', 'listed-in-config')).toBe(6); // 3 × 2, not 9 × 2
    expect(api.requests.length).toBe(before);
  });

  test('endpoint of the control-plane client: TESSERA_SAGEMAKER_API_ENDPOINT, else the runtime override', async () => {
    const env = { AWS_REGION: 'us-east-1', TESSERA_SAGEMAKER_ENDPOINT: 'http://127.0.0.1:1', TESSERA_SAGEMAKER_API_ENDPOINT: api.url };
    expect(awsConfigFromEnv(env).endpoints).toEqual({ sagemaker: 'http://127.0.0.1:1', sagemakerApi: api.url });
    // Only the runtime override (one local server for both APIs, e.g. LocalStack): the control plane goes there too.
    const viaRuntime = createSageMakerClient({ region: 'us-east-1', endpoints: { sagemaker: api.url }, credentials, maxAttempts: 1 });
    const before = api.count('DescribeEndpoint', 'untagged');
    expect(await new SageMakerCapacity(viaRuntime, DEFAULT_THROTTLING).capacity('SM_ENDPOINT', 'untagged')).toBe(6);
    expect(api.count('DescribeEndpoint', 'untagged')).toBe(before + 1);
  });
});
