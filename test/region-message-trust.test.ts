// A region message names an image path, a model and roles; they must be what its job was started with, else the
// message is dead-lettered and nothing is read or called (anyone who can send to the region queue could otherwise
// point the service at any URL or model). The real region handler on the in-process stores.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import type { QueueMessage } from '../src/queues/message-queue.js';
import { handleRegionMessage } from '../src/service/region-handler.js';
import { regionJobMismatch, type RegionRequest } from '../src/service/region-request.js';
import { memoryServiceContext } from './helpers/service-context.js';

const IMAGE_ID = 'job-t:s3://images/a.ntf';

async function container() {
  const regionDlq = new MemoryQueue('local://region-dlq');
  // Never reads pixels or calls a model: a mismatching message is refused before any work.
  const ctx = memoryServiceContext({ regionDlq });
  const { jobs, regions } = ctx;
  await jobs.start({ image_id: IMAGE_ID, job_id: 'job-t', image_url: 's3://images/a.ntf', model_name: 'http://127.0.0.1:9/invocations', model_invoke_mode: 'HTTP_ENDPOINT', image_read_role: 'arn:aws:iam::1:role/read' });
  await jobs.update(IMAGE_ID, {
    image_path: '/vsis3/images/a.ntf',
    tiling: JSON.stringify({ strategy: 'variable-overlap', bounds: { x: 0, y: 0, width: 1024, height: 1024 }, tileSize: { width: 512, height: 512 }, overlap: { width: 128, height: 128 }, regionSize: { width: 512, height: 512 } }),
    image_request: JSON.stringify({ jobId: 'job-t', imageUrls: ['s3://images/a.ntf'], imageProcessor: { name: 'http://127.0.0.1:9/invocations', type: 'HTTP_ENDPOINT' }, imageProcessorParameters: { CustomAttributes: 'model_selection=centerpoint' } }),
  });
  return { ctx, regions, regionDlq };
}

const good: RegionRequest = {
  image_id: IMAGE_ID, region_id: '(0, 512)(512, 512)-job-t', job_id: 'job-t', image_url: 's3://images/a.ntf', image_read_role: 'arn:aws:iam::1:role/read',
  model_name: 'http://127.0.0.1:9/invocations', model_invoke_mode: 'HTTP_ENDPOINT', model_endpoint_parameters: { CustomAttributes: 'model_selection=centerpoint' },
  tile_size: [512, 512], tile_overlap: [128, 128], tile_format: 'NITF', tile_compression: 'NONE', region_bounds: [[0, 512], [512, 512]],
  image_path: '/vsis3/images/a.ntf', tile_quality: 90, max_payload_bytes: 0, tiling_strategy: 'variable-overlap', processing_bounds: [[0, 0], [1024, 1024]],
  region_size: [512, 512], geolocate: false, pixel_conversion: { bands: [0], output_type: 'same', range_adjustment: 'NONE' },
};
const message = (body: object): QueueMessage => ({ id: 'm', receiptHandle: 'h', body: JSON.stringify(body), attributes: {}, receiveCount: 1 });

// Where a forged path points: a loopback server that counts what reaches it (nothing may).
let baitRequests = 0;
const bait = createServer((req, res) => {
  baitRequests++;
  res.end('GIF89a');
});
beforeAll(() => new Promise<void>((resolve) => bait.listen(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => bait.close(() => resolve())));
const baitPath = () => `/vsicurl/http://127.0.0.1:${(bait.address() as AddressInfo).port}/secret.tif`;

test.each([
  ['image_path', { image_path: 'BAIT' }, 'image_path is "BAIT" but job job-t:s3://images/a.ntf was started with "/vsis3/images/a.ntf"'],
  ['image_url', { image_url: 's3://other/b.ntf' }, 'image_url is "s3://other/b.ntf" but job job-t:s3://images/a.ntf was started with "s3://images/a.ntf"'],
  ['model_name', { model_name: 'http://127.0.0.1:8/steal' }, 'model_name is "http://127.0.0.1:8/steal" but job job-t:s3://images/a.ntf was started with "http://127.0.0.1:9/invocations"'],
  ['model_invoke_mode', { model_invoke_mode: 'SM_ENDPOINT' }, 'model_invoke_mode is "SM_ENDPOINT" but job job-t:s3://images/a.ntf was started with "HTTP_ENDPOINT"'],
  ['image_read_role', { image_read_role: 'arn:aws:iam::1:role/admin' }, 'image_read_role is "arn:aws:iam::1:role/admin" but job job-t:s3://images/a.ntf was started with "arn:aws:iam::1:role/read"'],
  ['model_invocation_role', { model_invocation_role: 'arn:aws:iam::1:role/admin' }, 'model_invocation_role is "arn:aws:iam::1:role/admin" but job job-t:s3://images/a.ntf was started with none'],
  ['model_endpoint_parameters', { model_endpoint_parameters: { CustomAttributes: 'model_selection=flood' } }, 'model_endpoint_parameters is {"CustomAttributes":"model_selection=flood"} but job job-t:s3://images/a.ntf was started with {"CustomAttributes":"model_selection=centerpoint"}'],
  ['tile size', { tile_size: [8192, 8192] }, 'tiling (tile_size, tile_overlap, region_size, processing_bounds, tiling_strategy) is {"strategy":"variable-overlap","bounds":{"x":0,"y":0,"width":1024,"height":1024},"tileSize":{"width":8192,"height":8192},"overlap":{"width":128,"height":128},"regionSize":{"width":512,"height":512}} but job job-t:s3://images/a.ntf was started with {"strategy":"variable-overlap","bounds":{"x":0,"y":0,"width":1024,"height":1024},"tileSize":{"width":512,"height":512},"overlap":{"width":128,"height":128},"regionSize":{"width":512,"height":512}}'],
])('a region message with another %s is dead-lettered before any work', async (_field, change, why) => {
  const { ctx, regions, regionDlq } = await container();
  const bait = baitPath();
  const forged = JSON.parse(JSON.stringify({ ...good, ...change }).replaceAll('BAIT', bait)) as RegionRequest;
  why = why.replaceAll('BAIT', bait);
  expect(await handleRegionMessage(ctx, message(forged), { signal: new AbortController().signal })).toBe('delete');
  const dead = regionDlq.peek();
  expect(dead).toHaveLength(1);
  expect(dead[0].body).toBe(JSON.stringify(forged));
  expect(dead[0].attributes.reason).toBe(`region message does not match its job: ${why}`);
  expect(await regions.get(IMAGE_ID, good.region_id)).toBeUndefined();
  expect(baitRequests).toBe(0);
});

test('a region message for a job not planned yet (throttled, or its first delivery still planning) is dead-lettered, whatever it names', async () => {
  const { ctx, regionDlq } = await container();
  await ctx.jobs.start({ image_id: 'job-u:s3://images/a.ntf', job_id: 'job-u', image_url: 's3://images/a.ntf', model_name: good.model_name, model_invoke_mode: 'HTTP_ENDPOINT' });
  const forged = { ...good, image_id: 'job-u:s3://images/a.ntf', job_id: 'job-u', image_read_role: undefined, image_path: baitPath() };
  expect(await handleRegionMessage(ctx, message(forged), { signal: new AbortController().signal })).toBe('delete');
  expect(regionDlq.peek().map((m) => m.attributes.reason)).toEqual(['region message does not match its job: job job-u:s3://images/a.ntf has not been planned yet, so no region message can come from it']);
  expect(baitRequests).toBe(0);
});

test('the message its job would send passes the check', async () => {
  const { ctx } = await container();
  expect(regionJobMismatch(good, (await ctx.jobs.get(IMAGE_ID))!)).toBeNull();
  // Parameters absent on both sides are the same (null, as the image handler sends them).
  expect(regionJobMismatch({ ...good, model_endpoint_parameters: null }, { ...(await ctx.jobs.get(IMAGE_ID))!, image_request: JSON.stringify({ imageProcessor: { name: 'x' } }) })).toBeNull();
  // A job stored before "" was parsed as no role keeps assumedRole "" in its request; its regions carry no role.
  const stored = JSON.parse((await ctx.jobs.get(IMAGE_ID))!.image_request as string) as { imageProcessor: Record<string, unknown> };
  const withEmptyRole = { ...(await ctx.jobs.get(IMAGE_ID))!, image_request: JSON.stringify({ ...stored, imageProcessor: { ...stored.imageProcessor, assumedRole: '' } }) };
  expect(regionJobMismatch(good, withEmptyRole)).toBeNull();
  expect(regionJobMismatch({ ...good, model_invocation_role: 'arn:aws:iam::1:role/admin' }, withEmptyRole)).toMatch(/^model_invocation_role is "arn:aws:iam::1:role\/admin" but .* was started with none$/);
});

// Were a check missing, the image would be opened here (a missing local file, nothing on the network) and the
// region failed and counted: what a forged region message did before regions were checked against the plan.
const LOCAL_PATH = '/nonexistent/tessera-trust/a.ntf';
async function plannedJob() {
  const c = await container();
  await c.ctx.jobs.update(IMAGE_ID, { image_status: 'IN_PROGRESS', region_count: 9, image_path: LOCAL_PATH });
  return c;
}

// The job's plan (tiling stored above): 1024 x 1024 in tiles of 512 at overlap 128 widens the overlap to 256, so
// regions of 512 start every 256 pixels: rows and columns 0, 256, 512 (OSML's crops, reference §3.3).
const PLAN_REGIONS = [0, 256, 512].flatMap((row) => [0, 256, 512].map((col) => ({ bounds: [[row, col], [512, 512]] as [[number, number], [number, number]], id: `(${row}, ${col})(512, 512)-job-t` })));

test.each([
  ['bounds that are no region of the plan', { region_id: '(9000, 0)(1, 1)-job-t', region_bounds: [[9000, 0], [1, 1]] }, 'region_bounds [[9000,0],[1,1]] is not one of the 9 regions of job job-t:s3://images/a.ntf\'s tiling plan'],
  ['bounds inside the image but not a region', { region_id: '(0, 128)(512, 512)-job-t', region_bounds: [[0, 128], [512, 512]] }, 'region_bounds [[0,128],[512,512]] is not one of the 9 regions of job job-t:s3://images/a.ntf\'s tiling plan'],
  ['a region id that is not its bounds\' id', { region_id: '(0, 0)(512, 512)-job-t' }, 'region_id is "(0, 0)(512, 512)-job-t" but the id of region [[0,512],[512,512]] of job "job-t" is "(0, 512)(512, 512)-job-t"'],
  ['a region id of another job', { region_id: '(0, 512)(512, 512)-job-u' }, 'region_id is "(0, 512)(512, 512)-job-u" but the id of region [[0,512],[512,512]] of job "job-t" is "(0, 512)(512, 512)-job-t"'],
  ['a job id that is not its image\'s', { job_id: 'job-u', region_id: '(0, 512)(512, 512)-job-u' }, 'job_id is "job-u" but job job-t:s3://images/a.ntf has job id "job-t"'],
])('a region message naming its job\'s image, model and tiling but %s is dead-lettered before anything is recorded or counted', async (_what, change, why) => {
  const { ctx, regions, regionDlq } = await plannedJob();
  const forged = { ...good, image_path: LOCAL_PATH, ...change } as RegionRequest;
  expect(await handleRegionMessage(ctx, message(forged), { signal: new AbortController().signal })).toBe('delete');
  expect(regionDlq.peek().map((m) => m.attributes.reason)).toEqual([`region message does not match its job: ${why}`]);
  expect(await regions.get(IMAGE_ID, forged.region_id)).toBeUndefined();
  expect(await ctx.jobs.get(IMAGE_ID)).toMatchObject({ completed_region_ids: [], region_success: 0, region_error: 0, image_status: 'IN_PROGRESS' });
});

test('forged regions outnumbering the real ones cannot end the job: each is dead-lettered, none is counted', async () => {
  const { ctx, regionDlq } = await plannedJob();
  for (let i = 0; i < 12; i++) {
    const forged = { ...good, image_path: LOCAL_PATH, region_id: `(${9000 + i}, 0)(1, 1)-job-t`, region_bounds: [[9000 + i, 0], [1, 1]] } as RegionRequest;
    expect(await handleRegionMessage(ctx, message(forged), { signal: new AbortController().signal })).toBe('delete');
  }
  expect(regionDlq.peek()).toHaveLength(12);
  const job = (await ctx.jobs.get(IMAGE_ID))!;
  expect(job).toMatchObject({ completed_region_ids: [], region_error: 0, image_status: 'IN_PROGRESS' });
  expect(job.end_time).toBeUndefined();
});

test('a job stored under a key that is not <jobId>:<imageUrl> takes no region message', async () => {
  const { ctx, regionDlq } = await plannedJob();
  const stored = (await ctx.jobs.get(IMAGE_ID))!;
  const { image_id: _key, start_time: _s, expire_time: _e, region_success: _rs, region_error: _re, completed_region_ids: _c, ...attributes } = stored;
  await ctx.jobs.start({ ...(attributes as { job_id: string; image_url: string; model_name: string; model_invoke_mode: string }), image_id: 'job-id#job-t' });
  await ctx.jobs.update('job-id#job-t', { image_path: stored.image_path, tiling: stored.tiling, image_request: stored.image_request });
  expect(await handleRegionMessage(ctx, message({ ...good, image_path: LOCAL_PATH, image_id: 'job-id#job-t' }), { signal: new AbortController().signal })).toBe('delete');
  expect(regionDlq.peek().map((m) => m.attributes.reason)).toEqual(['region message does not match its job: image_id is "job-id#job-t" but job "job-t" of image "s3://images/a.ntf" has image id "job-t:s3://images/a.ntf"']);
});

test('every region its job sends passes, under OSML\'s region id', async () => {
  const { ctx } = await container();
  const job = (await ctx.jobs.get(IMAGE_ID))!;
  for (const r of PLAN_REGIONS) expect(regionJobMismatch({ ...good, region_bounds: r.bounds, region_id: r.id }, job), r.id).toBeNull();
  expect(regionJobMismatch({ ...good, region_bounds: [[768, 0], [512, 512]], region_id: '(768, 0)(512, 512)-job-t' }, job)).toMatch(/is not one of the 9 regions/);
});

// REGION_DLQ is Tessera's, not OSML's: a deployment configured with OSML's variables has only IMAGE_DLQ. A region
// message Tessera refuses must still land somewhere with its reason, not be deleted with a log line (OSML, §16).
test.each([
  ['a job that does not exist (expired, or never started)', { image_id: 'job-gone:s3://images/a.ntf', job_id: 'job-gone', region_id: '(0, 512)(512, 512)-job-gone' }, 'job job-gone:s3://images/a.ntf not found in in-process job store (expired, or never started)'],
  ['another image path than its job\'s', { image_path: '/elsewhere/a.ntf' }, 'region message does not match its job: image_path is "/elsewhere/a.ntf" but job job-t:s3://images/a.ntf was started with "/vsis3/images/a.ntf"'],
])('without REGION_DLQ, a region message for %s goes to IMAGE_DLQ with its reason and source queue', async (_what, change, why) => {
  const { ctx, regions } = await container();
  const noRegionDlq = { ...ctx, regionDlq: undefined };
  const body = { ...good, ...change };
  expect(await handleRegionMessage(noRegionDlq, message(body), { signal: new AbortController().signal })).toBe('delete');
  const dead = (ctx.imageDlq as MemoryQueue).peek();
  expect(dead).toHaveLength(1);
  expect(dead[0].body).toBe(JSON.stringify(body));
  expect(dead[0].attributes).toEqual({ reason: why, source_queue: ctx.config.queues.region });
  expect(await regions.get(body.image_id, body.region_id)).toBeUndefined();
});

test('without REGION_DLQ, a malformed region message goes to IMAGE_DLQ with its reason, as the others', async () => {
  const { ctx } = await container();
  const noRegionDlq = { ...ctx, regionDlq: undefined };
  const body = { ...good, tile_size: 'big' };
  expect(await handleRegionMessage(noRegionDlq, message(body), { signal: new AbortController().signal })).toBe('delete');
  const dead = (ctx.imageDlq as MemoryQueue).peek();
  expect(dead.map((m) => m.attributes)).toEqual([{ reason: expect.stringMatching(/^invalid region request: tile_size: /), source_queue: ctx.config.queues.region }]);
});

test('with REGION_DLQ, refused region messages go there and IMAGE_DLQ stays for image requests', async () => {
  const { ctx, regionDlq } = await container();
  expect(await handleRegionMessage(ctx, message({ ...good, image_id: 'job-gone:s3://images/a.ntf', job_id: 'job-gone' }), { signal: new AbortController().signal })).toBe('delete');
  expect(regionDlq.peek()).toHaveLength(1);
  expect((ctx.imageDlq as MemoryQueue).peek()).toHaveLength(0);
});
