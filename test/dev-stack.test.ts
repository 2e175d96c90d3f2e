import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, formatEnvExports, type LocalStack } from '../src/dev-stack/local-stack.js';
import { SqsQueue } from '../src/queues/sqs-queue.js';
import { JobTable } from '../src/state/job-table.js';
import { awsConfigFromEnv } from '../src/aws/clients.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ maxReceiveCount: 2 });
});
afterAll(async () => stack?.stop());

describe('local stack', () => {
  test('its environment names every resource, on loopback endpoints', () => {
    const env = stack.env;
    for (const name of ['IMAGE_QUEUE', 'REGION_QUEUE', 'IMAGE_DLQ', 'REGION_DLQ', 'JOB_TABLE', 'IMAGE_REQUEST_TABLE', 'REGION_REQUEST_TABLE', 'FEATURE_TABLE', 'ENDPOINT_TABLE', 'OUTSTANDING_JOBS_TABLE', 'IMAGE_STATUS_TOPIC', 'REGION_STATUS_TOPIC', 'DDB_TTL_IN_DAYS', 'AWS_DEFAULT_REGION', 'AWS_EC2_METADATA_DISABLED']) {
      expect(env[name], name).toBeTruthy();
    }
    for (const [name, value] of Object.entries(env).filter(([k]) => k.endsWith('_ENDPOINT') || k.endsWith('QUEUE') || k.endsWith('DLQ'))) {
      expect(value, name).toMatch(/^(http:\/\/)?127\.0\.0\.1:\d+/);
    }
    const config = awsConfigFromEnv(env);
    expect(config.region).toBe('us-east-1');
    expect(config.endpoints).toEqual({ sqs: env.TESSERA_SQS_ENDPOINT, dynamodb: env.TESSERA_DYNAMODB_ENDPOINT, s3: env.TESSERA_S3_ENDPOINT, kinesis: env.TESSERA_KINESIS_ENDPOINT, sns: env.TESSERA_SNS_ENDPOINT });
    expect(formatEnvExports({ A: "it's", B: 'x y' })).toBe(`export A='it'\\''s'\nexport B='x y'`);
  });

  test('redrive counts deliveries, not visibility changes', async () => {
    const region = new SqsQueue(stack.clients.sqs, stack.queueUrls.region);
    const dlq = new SqsQueue(stack.clients.sqs, stack.queueUrls.regionDlq);
    await region.send('long then poison');
    const [first] = await region.receive({ waitSeconds: 1 });
    for (let i = 0; i < 4; i++) await region.changeVisibility(first.receiptHandle, 30); // heartbeats
    await region.changeVisibility(first.receiptHandle, 0);
    const [second] = await region.receive({ waitSeconds: 1 });
    expect(second.receiveCount).toBe(2);
    await region.changeVisibility(second.receiptHandle, 0); // second failed delivery of maxReceiveCount 2
    const moved = await dlq.receive({ waitSeconds: 1 });
    expect(moved.map((m) => m.body)).toEqual(['long then poison']);
  });

  test('with a data directory, DynamoDB state survives a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-stack-'));
    try {
      const a = await startLocalStack({ dataDir });
      await new JobTable(a.clients.dynamodb, a.names.jobTable).start({ image_id: 'p:img', job_id: 'p', image_url: 'img', model_name: 'm', model_invoke_mode: 'HTTP_ENDPOINT' });
      await a.stop();
      const b = await startLocalStack({ dataDir });
      expect((await new JobTable(b.clients.dynamodb, b.names.jobTable).get('p:img'))?.job_id).toBe('p');
      await b.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
