// A jobId names one request. The same request delivered again (same SQS message, or the same request in another
// message) is idempotent; another request under the id of an existing job (same image, other outputs ...) goes to
// the image dead-letter queue naming jobId, and the job it would have clobbered is left as it is. The real image
// handler on the in-process stores (the DynamoDB job table keeps the same contract, test/state.test.ts).
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import type { QueueMessage } from '../src/queues/message-queue.js';
import { handleImageMessage } from '../src/service/image-handler.js';
import type { StatusPublisher } from '../src/status/sns-status.js';
import { tempDir } from './helpers/cli.js';
import { memoryServiceContext } from './helpers/service-context.js';

function container() {
  const imageDlq = new MemoryQueue('local://image-dlq');
  const statuses: string[] = [];
  const ctx = memoryServiceContext({
    imageDlq,
    status: { publishImageStatus: async (e: { status: string; jobId: string }) => (statuses.push(`${e.jobId} ${e.status}`), true), publishes: () => true } as unknown as StatusPublisher,
  });
  return { ctx, jobs: ctx.jobs, imageDlq, statuses };
}

const signal = { signal: new AbortController().signal };
const message = (id: string, body: string, receiveCount = 1): QueueMessage => ({ id, receiptHandle: `h-${id}-${receiveCount}`, body, attributes: {}, receiveCount });
const image = () => join(tempDir('tessera-reuse-'), 'not-there.tif');
const body = (url: string, prefix: string, extra: object = {}) => JSON.stringify({
  jobId: 'job-x', imageUrls: [url], outputs: [{ type: 'S3', bucket: 'out', prefix }], imageProcessor: { name: 'http://127.0.0.1:9/invocations', type: 'HTTP_ENDPOINT' },
  imageProcessorTileSize: 512, imageProcessorTileOverlap: 128, ...extra,
});

test('an ended job: its own request again changes nothing; another request under its jobId is dead-lettered naming jobId', async () => {
  const { ctx, jobs, imageDlq, statuses } = container();
  const url = image();
  const first = body(url, 'first/');
  // The first request fails (its image is missing): FAILED, published, dead-lettered once.
  expect(await handleImageMessage(ctx, message('m-1', first), signal)).toBe('delete');
  const ended = (await jobs.get(`job-x:${url}`))!;
  expect(ended).toMatchObject({ image_status: 'FAILED', request_message_id: 'm-1' });
  expect(imageDlq.peek()).toHaveLength(1);
  expect(statuses).toEqual(['job-x STARTED', 'job-x FAILED']);

  // The same message again, and the same request in another message (a producer's retry, re-serialised): nothing new.
  expect(await handleImageMessage(ctx, message('m-1', first, 2), signal)).toBe('delete');
  const reserialised = JSON.stringify(JSON.parse(first), null, 2);
  expect(await handleImageMessage(ctx, message('m-2', reserialised), signal)).toBe('delete');
  expect(imageDlq.peek()).toHaveLength(1);
  expect(statuses).toEqual(['job-x STARTED', 'job-x FAILED']);

  // Another request (other output prefix) under the same jobId and image.
  const second = body(url, 'second/');
  expect(await handleImageMessage(ctx, message('m-3', second), signal)).toBe('delete');
  const dead = imageDlq.peek();
  expect(dead).toHaveLength(2);
  expect(dead[1].body).toBe(second);
  expect(dead[1].attributes.field).toBe('jobId');
  expect(dead[1].attributes.reason).toBe(`invalid image request: jobId: job-x was already used for a job that ended ${new Date(ended.end_time!).toISOString()} with status FAILED; use a new jobId`);
  expect(await jobs.get(`job-x:${url}`)).toEqual(ended);
  expect(statuses).toEqual(['job-x STARTED', 'job-x FAILED']);
});

test('a running job: another request under its jobId is dead-lettered, the job untouched', async () => {
  const { ctx, jobs, imageDlq, statuses } = container();
  const url = image();
  const imageId = `job-x:${url}`;
  // A job another delivery started and is working on (as startImage records it).
  await jobs.start({ image_id: imageId, job_id: 'job-x', image_url: url, model_name: 'http://127.0.0.1:9/invocations', model_invoke_mode: 'HTTP_ENDPOINT', request_message_id: 'm-running', request_hash: 'hash of that request' });
  const running = await jobs.update(imageId, { image_status: 'IN_PROGRESS', region_count: 4 });

  expect(await handleImageMessage(ctx, message('m-other', body(url, 'other/', { jobName: 'another run' })), signal)).toBe('delete');
  const [dead] = imageDlq.peek();
  expect(dead.attributes.field).toBe('jobId');
  expect(dead.attributes.reason).toBe(`invalid image request: jobId: job-x is already used by a job that is still running (started ${new Date(running.start_time).toISOString()}, status IN_PROGRESS); use a new jobId`);
  expect(await jobs.get(imageId)).toEqual(running);
  expect(statuses).toEqual([]);

  // Even when the other request fails on its own first (its last delivery, image missing), the job is not ended.
  expect(await handleImageMessage(ctx, message('m-other-2', body(url, 'other-2/'), 3), signal)).toBe('delete');
  expect(imageDlq.peek().map((m) => m.attributes.field)).toEqual(['jobId', 'jobId']);
  expect(await jobs.get(imageId)).toEqual(running);
});

test('another image under the jobId of an ended job is dead-lettered naming jobId; no second job is made', async () => {
  const { ctx, jobs, imageDlq, statuses } = container();
  const url = image();
  const otherUrl = image();
  // The first request fails (its image is missing): FAILED, published, dead-lettered once.
  expect(await handleImageMessage(ctx, message('m-1', body(url, 'out/')), signal)).toBe('delete');
  const ended = (await jobs.get(`job-x:${url}`))!;
  expect(ended.image_status).toBe('FAILED');

  // The same jobId with another image, same outputs: its output would overwrite out/job-x.geojson.
  const second = body(otherUrl, 'out/');
  expect(await handleImageMessage(ctx, message('m-2', second), signal)).toBe('delete');
  const dead = imageDlq.peek();
  expect(dead).toHaveLength(2);
  expect(dead[1].body).toBe(second);
  expect(dead[1].attributes.field).toBe('jobId');
  expect(dead[1].attributes.reason).toBe(`invalid image request: jobId: job-x was already used for another image (${JSON.stringify(url)}) by a job that ended ${new Date(ended.end_time!).toISOString()} with status FAILED; use a new jobId`);
  expect(await jobs.get(`job-x:${otherUrl}`)).toBeUndefined();
  expect(await jobs.get(`job-x:${url}`)).toEqual(ended);
  expect(statuses).toEqual(['job-x STARTED', 'job-x FAILED']);

  // The first request again is still its own job's: nothing new.
  expect(await handleImageMessage(ctx, message('m-3', body(url, 'out/')), signal)).toBe('delete');
  expect(imageDlq.peek()).toHaveLength(2);
});

test('another image under the jobId of a running job is dead-lettered, even on its last delivery; the job untouched', async () => {
  const { ctx, jobs, imageDlq, statuses } = container();
  const url = image();
  const otherUrl = image();
  const imageId = `job-x:${url}`;
  // A job another delivery claimed, started and is working on (as startImage records them).
  expect((await jobs.claimJobId('job-x', { image_id: imageId, request_message_id: 'm-running', request_hash: 'hash of that request' })).claimed).toBe(true);
  await jobs.start({ image_id: imageId, job_id: 'job-x', image_url: url, model_name: 'http://127.0.0.1:9/invocations', model_invoke_mode: 'HTTP_ENDPOINT', request_message_id: 'm-running', request_hash: 'hash of that request' });
  const running = await jobs.update(imageId, { image_status: 'IN_PROGRESS', region_count: 4 });

  const why = `invalid image request: jobId: job-x is already used for another image (${JSON.stringify(url)}) by a job that is still running (started ${new Date(running.start_time).toISOString()}, status IN_PROGRESS); use a new jobId`;
  expect(await handleImageMessage(ctx, message('m-other', body(otherUrl, 'other/')), signal)).toBe('delete');
  // Its last delivery (its own image is missing too): still not a job of its own, and no FAILED for job-x.
  expect(await handleImageMessage(ctx, message('m-other-2', body(otherUrl, 'other-2/'), 3), signal)).toBe('delete');
  expect(imageDlq.peek().map((m) => [m.attributes.field, m.attributes.reason])).toEqual([['jobId', why], ['jobId', why]]);
  expect(await jobs.get(`job-x:${otherUrl}`)).toBeUndefined();
  expect(await jobs.get(imageId)).toEqual(running);
  expect(statuses).toEqual([]);
});

test('a jobId that would take the key of a jobId claim is refused up front', async () => {
  const { ctx, imageDlq } = container();
  const request = JSON.parse(body(image(), 'out/')) as { jobId: string };
  request.jobId = 'job-id#job-x';
  expect(await handleImageMessage(ctx, message('m-1', JSON.stringify(request)), signal)).toBe('delete');
  expect(imageDlq.peek().map((m) => [m.attributes.field, m.attributes.reason])).toEqual([['jobId', 'invalid image request: jobId: must not start with "job-id#" (the job table keeps each jobId\'s claim under that key)']]);
});
