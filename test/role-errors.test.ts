// A role that cannot be assumed (STS not answering) must be named in the failure: which request field named the role,
// its ARN and that the step was STS AssumeRole, not just the network's "connect ECONNREFUSED 127.0.0.1:9".
// STS is pointed at 127.0.0.1:9 (discard; nothing listens there), so every AssumeRole is refused at once.
import { describe, expect, test } from 'vitest';
import { AwsClients, createStsClient, type AwsConfig } from '../src/aws/clients.js';
import { assumedRoleCredentials, RoleAssumptionError } from '../src/aws/assume-role.js';
import { DetectorError } from '../src/detectors/detector-error.js';
import { SageMakerDetector } from '../src/detectors/sagemaker-detector.js';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import { handleImageMessage } from '../src/service/image-handler.js';
import { StatusPublisher } from '../src/status/sns-status.js';
import { servicePaths } from '../src/api/request-paths.js';
import { memoryServiceContext } from './helpers/service-context.js';

const ROLE = 'arn:aws:iam::123456789012:role/reader';
const NOWHERE = 'http://127.0.0.1:9';
const aws: AwsConfig = { region: 'us-east-1', endpoints: { sts: NOWHERE, s3: NOWHERE }, credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' }, maxAttempts: 1 };

describe('a role STS does not give', () => {
  test('the credentials provider names the purpose, the ARN and the STS step', async () => {
    const keys = assumedRoleCredentials(createStsClient(aws), ROLE, { purpose: 'imageReadRole' });
    const err = await keys().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RoleAssumptionError);
    expect((err as Error).message).toMatch(new RegExp(`^imageReadRole ${ROLE}: STS AssumeRole failed: .*ECONNREFUSED 127\\.0\\.0\\.1:9`));
    expect((err as RoleAssumptionError).code).toBe('ECONNREFUSED');
  });

  test('imageReadRole: the job fails (on its last delivery) with a reason naming the role step', async () => {
    const imageDlq = new MemoryQueue('local://image-dlq');
    const events: string[] = [];
    const clients = new AwsClients(aws);
    const ctx = memoryServiceContext({
      clients,
      imageDlq,
      status: { publishImageStatus: async (e: { status: string; reason?: string }) => (events.push(`${e.status} ${e.reason ?? ''}`), true), publishes: () => true } as unknown as StatusPublisher,
    });
    ctx.config.paths = servicePaths({});
    const { jobs } = ctx;
    const body = JSON.stringify({
      jobId: 'job-role', imageUrls: ['s3://bucket/image.ntf'], imageReadRole: ROLE,
      outputs: [{ type: 'S3', bucket: 'out', prefix: 'p/' }], imageProcessor: { name: 'http://127.0.0.1:9/invocations', type: 'HTTP_ENDPOINT' },
      imageProcessorTileSize: 512, imageProcessorTileOverlap: 128,
    });
    const message = (n: number) => ({ id: `m-${n}`, receiptHandle: `h-${n}`, body, attributes: {}, receiveCount: n });
    try {
      // Before the last delivery the failure is left for a retry.
      await expect(handleImageMessage(ctx, message(1), { signal: new AbortController().signal })).rejects.toThrow(RoleAssumptionError);
      expect(await handleImageMessage(ctx, message(3), { signal: new AbortController().signal })).toBe('delete');
      const job = (await jobs.get('job-role:s3://bucket/image.ntf'))!;
      expect(job.image_status).toBe('FAILED');
      expect(job.message).toMatch(new RegExp(`^gave up after 3 deliveries: imageReadRole ${ROLE}: STS AssumeRole failed: .*ECONNREFUSED 127\\.0\\.0\\.1:9`));
      expect(events).toEqual([`STARTED `, `FAILED ${job.message}`]);
      const [dead] = imageDlq.peek();
      expect(dead.attributes.reason).toBe(job.message);
    } finally {
      clients.destroy();
    }
  });

  test('imageProcessor.assumedRole: the tile fails saying the role, not the endpoint, could not be had', async () => {
    const detector = new SageMakerDetector({ endpointName: 'my-endpoint', region: 'us-east-1', endpoint: NOWHERE, credentials: aws.credentials as never, assumedRole: ROLE, stsEndpoint: NOWHERE, timeoutMs: 2000, maxAttempts: 1 });
    try {
      const err = await detector.detect(new Uint8Array([1, 2, 3]), { tileLabel: '(0, 0)(512, 512)' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DetectorError);
      const message = (err as Error).message;
      expect(message).toMatch(new RegExp(`^\\(0, 0\\)\\(512, 512\\): imageProcessor\\.assumedRole ${ROLE}: STS AssumeRole failed: .*ECONNREFUSED 127\\.0\\.0\\.1:9.*; SageMaker endpoint my-endpoint not called`));
      expect(message).not.toContain('could not reach SageMaker');
    } finally {
      await detector.close();
    }
  });
});
