// OSML's table attributes that its dashboards read (reference §6.3, §6.5), written by Tessera against dynalite:
// the outstanding requests table through a job's life, and the endpoint statistics attributes of ENDPOINT_TABLE.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { OutstandingJobsTable } from '../src/state/outstanding-table.js';
import { osmlRequestPayload } from '../src/service/outstanding-jobs.js';
import { parseImageRequest } from '../src/api/image-request.js';
import { EndpointCapacity, DEFAULT_THROTTLING } from '../src/service/endpoint-capacity.js';
import { fromItem } from '../src/state/attribute-values.js';
import type { JobItem } from '../src/state/job-table.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack();
});
afterAll(async () => stack?.stop());

describe('outstanding requests table (OSML §6.5)', () => {
  test('received → attempt → regions → deleted at the end, with OSML attributes; every step idempotent', async () => {
    let now = 1_700_000_000_000;
    const table = new OutstandingJobsTable(stack.clients.dynamodb, stack.names.outstandingTable, 7, () => now);
    const request = parseImageRequest({
      jobId: 'job-o',
      imageUrls: ['s3://bucket/image.ntf'],
      outputs: [{ type: 'S3', bucket: 'out', prefix: 'p/' }],
      imageProcessor: { name: 'my-endpoint', type: 'SM_ENDPOINT' },
      imageProcessorTileSize: 512,
      imageProcessorTileOverlap: 128,
    });
    const payload = osmlRequestPayload(request, 'job-o:s3://bucket/image.ntf');
    // OSML's internal ImageRequest names; tile size/overlap as (w, h) pairs; OSML's default post-processing.
    expect(payload).toMatchObject({
      job_id: 'job-o',
      image_id: 'job-o:s3://bucket/image.ntf',
      image_url: 's3://bucket/image.ntf',
      model_name: 'my-endpoint',
      model_invoke_mode: 'SM_ENDPOINT',
      tile_size: [512, 512],
      tile_overlap: [128, 128],
      tile_format: 'NITF',
      tile_compression: 'NONE',
      outputs: [{ type: 'S3', bucket: 'out', prefix: 'p/' }],
      feature_properties: [],
      roi: null,
      post_processing: [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'NMS', iouThreshold: 0.75 } }],
    });

    expect(await table.add({ endpointId: 'my-endpoint', jobId: 'job-o', payload })).toBe(true);
    now += 5000;
    expect(await table.add({ endpointId: 'my-endpoint', jobId: 'job-o', payload: { job_id: 'other' } })).toBe(false); // a redelivery keeps the first record
    const received = (await table.get('my-endpoint', 'job-o'))!;
    expect(received).toEqual({
      endpoint_id: 'my-endpoint',
      job_id: 'job-o',
      request_time: 1_700_000_000,
      request_payload: payload,
      last_attempt: 0,
      num_attempts: 0,
      regions_complete: [],
      expire_time: 1_700_000_000 + 7 * 86_400,
    });

    now = 1_700_000_060_000;
    expect(await table.startAttempt('my-endpoint', 'job-o', 3)).toBe(true);
    expect(await table.completeRegion('my-endpoint', 'job-o', 'r1')).toBe(true);
    expect(await table.completeRegion('my-endpoint', 'job-o', 'r1')).toBe(false); // a redelivered region is listed once
    expect(await table.completeRegion('my-endpoint', 'job-o', 'r2')).toBe(true);
    expect(await table.get('my-endpoint', 'job-o')).toMatchObject({ last_attempt: 1_700_000_060, num_attempts: 1, region_count: 3, regions_complete: ['r1', 'r2'], request_time: 1_700_000_000 });

    await table.complete('my-endpoint', 'job-o');
    await table.complete('my-endpoint', 'job-o');
    expect(await table.get('my-endpoint', 'job-o')).toBeUndefined();
    // A late region or attempt of an ended job does not bring its record back.
    expect(await table.completeRegion('my-endpoint', 'job-o', 'r3')).toBe(false);
    expect(await table.startAttempt('my-endpoint', 'job-o', 3)).toBe(false);
    expect(await table.get('my-endpoint', 'job-o')).toBeUndefined();
  });
});

describe('endpoint statistics attributes (OSML §6.3)', () => {
  test('regions_in_progress counts the regions of the running jobs, max_regions the regions the target takes', async () => {
    const fakeJobs = { get: async (imageId: string) => ({ image_id: imageId }) as JobItem };
    // Capacity 22 × 1.0 → target 22; a region is 4 load → 5 regions fit at once (floor(22 / 4)).
    const cap = new EndpointCapacity(stack.clients.dynamodb, stack.names.endpointTable, fakeJobs, { ...DEFAULT_THROTTLING, httpEndpointConcurrency: 22 });
    const endpoint = 'http://osml-statistics/invocations';
    const item = async () => {
      const { Item } = await stack.clients.dynamodb.send(new GetItemCommand({ TableName: stack.names.endpointTable, Key: { endpoint: { S: endpoint } }, ConsistentRead: true }));
      return fromItem(Item!);
    };
    expect((await cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: 'a', jobId: 'a', regionCount: 1 })).admitted).toBe(true);
    expect((await cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: 'b', jobId: 'b', regionCount: 3 })).admitted).toBe(true);
    expect(await item()).toMatchObject({ endpoint, regions_in_progress: 4, max_regions: 5 });
    expect((await cap.admit({ endpoint, invokeMode: 'HTTP_ENDPOINT', imageId: 'b', jobId: 'b', regionCount: 3 })).already).toBe(true);
    expect((await item()).regions_in_progress).toBe(4); // a redelivered request is not counted again
    await cap.release(endpoint, 'a');
    expect(await item()).toMatchObject({ regions_in_progress: 3, max_regions: 5 });
    await cap.release(endpoint, 'b');
    const last = await item();
    expect(last).toMatchObject({ regions_in_progress: 0, max_regions: 5 });
    expect(last.expire_time).toBeGreaterThan(Date.now() / 1000);
  });
});
