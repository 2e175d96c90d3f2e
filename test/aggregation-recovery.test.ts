// The end of a job when a container dies or fails at the wrong moment: holding the aggregation lease, between the
// job's end and its final status, between counting a region and publishing its status, or when the dead-letter
// send fails. Each case builds the state the dead container left in the in-process stores (the DynamoDB tables
// keep the same contract, test/state.test.ts), then hands the message to the real handlers of another container.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import type { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { ImageRequest } from '../src/api/image-request.js';
import type { Feature } from '../src/features/geojson.js';
import type { Metrics } from '../src/metrics/emf.js';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import { MessageWorker, type MessageOutcome } from '../src/queues/message-worker.js';
import type { QueueMessage } from '../src/queues/message-queue.js';
import type { EndpointCapacity } from '../src/service/endpoint-capacity.js';
import type { ServiceContext } from '../src/service/context.js';
import { localServiceConfig } from '../src/service/local-run.js';
import { handleRegionMessage } from '../src/service/region-handler.js';
import { handleImageMessage } from '../src/service/image-handler.js';
import { finishRegion } from '../src/service/region-completion.js';
import { aggregateImage } from '../src/service/aggregation.js';
import { regionIdOf, tileIdOf, toBounds, type RegionRequest, type TilingSpec } from '../src/service/region-request.js';
import { MemoryFeatureStore, MemoryJobStore, MemoryRegionStore } from '../src/state/memory-stores.js';
import { StatusPublisher } from '../src/status/sns-status.js';
import { planTiling, tilesOfRegion } from '../src/tiling/index.js';
import { tempDir } from './helpers/cli.js';
import { recordingSink } from './helpers/service-context.js';
import type { Sink } from '../src/sinks/sink.js';
import { kinesisRecords, readS3Text, sleep, waitFor, writeTestImage } from './helpers/serve.js';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { createS3Client } from '../src/aws/clients.js';
import { OutstandingJobsTable } from '../src/state/outstanding-table.js';

const JOB = 'job-agg';
const MODEL = 'http://127.0.0.1:9/invocations'; // never called: every tile is already done
let img: string;
let imageId: string;
beforeAll(() => {
  img = join(tempDir('tessera-agg-'), 'agg.tif');
  writeTestImage(img, 1024, 512);
  imageId = `${JOB}:${img}`;
});

// 1024 x 512 in regions of 512: two regions of four 256-pixel tiles.
const tiling = (): TilingSpec => ({ strategy: 'variable-overlap', bounds: { x: 0, y: 0, width: 1024, height: 512 }, tileSize: { width: 256, height: 256 }, overlap: { width: 0, height: 0 }, regionSize: { width: 512, height: 512 } });
const plan = () => planTiling(tiling());

interface Event { kind: 'image' | 'region'; attributes: Record<string, string> }

/** Stores, queues and observations shared by the "containers" of one test. */
function world() {
  const jobs = new MemoryJobStore();
  const regions = new MemoryRegionStore();
  const features = new MemoryFeatureStore();
  const events: Event[] = [];
  const metrics: string[] = [];
  const released: string[] = [];
  const failImagePublishes = { remaining: 0 };
  const sns = {
    send: async (cmd: PublishCommand) => {
      const attributes = Object.fromEntries(Object.entries(cmd.input.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']));
      const kind = cmd.input.TopicArn!.endsWith(':image') ? 'image' : 'region';
      if (kind === 'image' && failImagePublishes.remaining > 0) {
        failImagePublishes.remaining--;
        throw new Error('SNS unavailable');
      }
      events.push({ kind, attributes });
      return {};
    },
  };
  const status = new StatusPublisher({ sns: sns as unknown as SNSClient, imageTopicArn: 'arn:aws:sns:us-east-1:000000000000:image', regionTopicArn: 'arn:aws:sns:us-east-1:000000000000:region', maxAttempts: 1 });
  const { sink, written } = recordingSink();
  const imageQueue = new MemoryQueue('local://image');
  const imageDlq = new MemoryQueue('local://image-dlq');
  const container = (owner: string, overrides: Partial<ServiceContext> = {}): ServiceContext => {
    const config = localServiceConfig({ request: {} as ImageRequest, regionSize: 512, tilingStrategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 1000, maxRetries: 0 }, 1);
    config.maxDeliveries = 3;
    config.aggregationLeaseMs = 60_000;
    return {
      config, jobs, regions, features, status, owner, imageQueue, imageDlq,
      regionQueue: new MemoryQueue('local://region'),
      metrics: { record: (name: string) => void metrics.push(name) } as unknown as Metrics,
      capacity: { release: async (_endpoint: string, id: string) => void released.push(id) } as unknown as EndpointCapacity,
      pool: null as unknown as ServiceContext['pool'],
      readResources: null as unknown as ServiceContext['readResources'],
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
      sinkClients: {} as ServiceContext['sinkClients'],
      rasterInfo: new Map(),
      observer: { sinksFor: () => [sink] },
      ...overrides,
    };
  };
  const imageEvents = (s?: string) => events.filter((e) => e.kind === 'image' && (!s || e.attributes.status === s));
  const regionEvents = (regionId: string) => events.filter((e) => e.kind === 'region' && e.attributes.region_id === regionId);
  return { jobs, regions, features, events, metrics, released, written, failImagePublishes, imageDlq, container, imageEvents, regionEvents };
}

type World = ReturnType<typeof world>;

const regionRequest = (index: number): RegionRequest => {
  const region = plan().regions[index];
  return {
    image_id: imageId, region_id: regionIdOf(region, JOB), job_id: JOB, image_url: img, model_name: MODEL, model_invoke_mode: 'HTTP_ENDPOINT', model_endpoint_parameters: null,
    tile_size: [256, 256], tile_overlap: [0, 0], tile_format: 'PNG', tile_compression: 'NONE', region_bounds: toBounds(region), image_path: img, tile_quality: 90, max_payload_bytes: 0,
    tiling_strategy: 'variable-overlap', processing_bounds: [[0, 0], [1024, 512]], region_size: [512, 512], geolocate: false,
    pixel_conversion: { bands: [0], output_type: 'same', range_adjustment: 'NONE' },
  } as unknown as RegionRequest;
};
const message = (body: object, receiveCount: number): QueueMessage => ({ id: `m-${receiveCount}`, receiptHandle: `h-${receiveCount}`, body: JSON.stringify(body), attributes: {}, receiveCount, sentAt: Date.now() });
const noSignal = { signal: new AbortController().signal };
/** The message worker deletes a message whose handler resolved with nothing or 'delete'. */
const deleted = async (disposition: Promise<unknown>) => expect([undefined, 'delete']).toContain(await disposition);

/** A planned job whose every tile ran: one feature per tile stored, every tile recorded as succeeded. */
async function tilesDone(w: World, outputs: object[] = []): Promise<void> {
  const request = { jobId: JOB, imageUrls: [img], outputs, imageProcessor: { name: MODEL, type: 'HTTP_ENDPOINT' }, featureProperties: [] };
  await w.jobs.start({ image_id: imageId, job_id: JOB, image_url: img, model_name: MODEL, model_invoke_mode: 'HTTP_ENDPOINT' });
  await w.jobs.update(imageId, { region_count: 2, image_status: 'IN_PROGRESS', image_request: JSON.stringify(request), tiling: JSON.stringify(tiling()), feature_properties: '[]', image_path: img });
  for (const [i, region] of plan().regions.entries()) {
    const r = regionRequest(i);
    await w.regions.start({ image_id: imageId, region_id: r.region_id, job_id: JOB });
    const tiles = tilesOfRegion(plan(), region);
    for (const t of tiles) {
      await w.features.writeTileFeatures(imageId, tileIdOf(t), [{ type: 'Feature', geometry: null, properties: { imageBBox: [t.x + 100, t.y + 100, t.x + 150, t.y + 150], featureClasses: [{ iri: 'thing', score: 0.9 }] } } as Feature]);
    }
    await w.regions.recordTiles(imageId, r.region_id, { succeeded: tiles.map((t) => ({ id: tileIdOf(t) })) });
  }
  await sleep(5); // regions take time: their processing_duration is not 0 (which OSML's attributes omit)
}

/** What a container does for a region before its status: complete and count it (finishRegion), nothing after. */
const countRegion = (w: World, index: number) => finishRegion(w.jobs, w.regions, imageId, regionRequest(index).region_id, 4);

/** Region 1 finished by some other container, its status published. */
async function otherRegionFinished(w: World): Promise<void> {
  await countRegion(w, 1);
  await w.regions.markStatusPublished(imageId, regionRequest(1).region_id);
}

test('an aggregator that died holding the lease: the message is kept, then aggregated once the lease runs out', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  // Container A counted region 0 (the last), took a 1 s lease, and died.
  await countRegion(w, 0);
  await w.regions.markStatusPublished(imageId, regionRequest(0).region_id);
  expect(await w.jobs.claimAggregation(imageId, 'A', 1_000)).toBe(true);
  const leaseUntil = (await w.jobs.get(imageId))!.aggregation_lease_until!;

  // Container B receives the redelivered message through a real message worker.
  const queue = new MemoryQueue('local://region');
  await queue.send(regionRequest(0));
  const outcomes: MessageOutcome['result'][] = [];
  const receiveCounts: number[] = [];
  const b = w.container('B');
  const worker = new MessageWorker({ queue, handler: (m, c) => handleRegionMessage(b, m, c), visibilityTimeoutSeconds: 30, waitTimeSeconds: 1, onOutcome: (o) => (outcomes.push(o.result), receiveCounts.push(o.message.receiveCount)) });
  worker.start();
  try {
    const job = await waitFor('the job to end', async () => {
      const j = await w.jobs.get(imageId);
      return j?.end_time !== undefined && outcomes.includes('deleted') ? j : undefined;
    }, 8_000, 50);
    // Waiting on A's lease came back as a delayed copy: it spent no delivery (both were first receives).
    expect(outcomes).toEqual(['resent', 'deleted']);
    expect(receiveCounts).toEqual([1, 1]);
    expect(job.end_time!).toBeGreaterThanOrEqual(leaseUntil); // A's lease was respected
    expect(job).toMatchObject({ image_status: 'SUCCESS', feature_count: 8 });
    expect(job.aggregation_owner).toMatch(/^B#/); // container B's delivery
    expect(w.written.map((f) => f.length)).toEqual([8]);
    expect(w.imageEvents('SUCCESS')).toHaveLength(1);
    expect(await queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  } finally {
    await worker.stop(0);
  }
});

test('two deliveries in the same container that both find the image complete: one aggregates, the other waits for its lease', async () => {
  const w = world();
  await tilesDone(w);
  await countRegion(w, 0);
  await countRegion(w, 1);
  // One container (one owner), a sink slow enough for the second delivery to arrive while the first aggregates.
  let writing = 0, mostAtOnce = 0;
  const slow: Sink = {
    type: 'Test',
    target: 'slow',
    write: async (source) => {
      mostAtOnce = Math.max(mostAtOnce, ++writing);
      let n = 0;
      for await (const _f of source()) n++;
      await sleep(100);
      writing--;
      w.written.push([]);
      return { featuresWritten: n, location: 'slow' };
    },
  };
  const a = w.container('A', { observer: { sinksFor: () => [slow] } });
  const [first, second] = await Promise.all([
    handleRegionMessage(a, message(regionRequest(0), 2), noSignal),
    handleRegionMessage(a, message(regionRequest(1), 2), noSignal),
  ]);
  expect(mostAtOnce).toBe(1);
  expect(w.written).toHaveLength(1);
  // The one that found the lease taken hands its message back until the lease runs out (60 s here).
  const dispositions = [first, second].map((d) => (typeof d === 'object' && d && 'resendAfterSeconds' in d ? 'resend' : d)).sort();
  expect(dispositions).toEqual(['delete', 'resend']);
  expect(await w.jobs.get(imageId)).toMatchObject({ image_status: 'SUCCESS', feature_count: 8 });
  expect(w.imageEvents('SUCCESS')).toHaveLength(1);
});

test('an aggregation that throws gives the lease back: the redelivery aggregates at once, in another container', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  const failing = new MemoryFeatureStore();
  failing.itemsOfImage = () => { throw new Error('feature table unavailable'); };
  const a = w.container('A', { features: failing });
  await expect(handleRegionMessage(a, message(regionRequest(0), 1), noSignal)).rejects.toThrow(/feature table unavailable/);
  const afterA = (await w.jobs.get(imageId))!;
  expect(afterA.end_time).toBeUndefined();
  expect(afterA.aggregation_owner).toBeUndefined();

  await deleted(handleRegionMessage(w.container('B'), message(regionRequest(0), 2), noSignal));
  expect(await w.jobs.get(imageId)).toMatchObject({ image_status: 'SUCCESS', feature_count: 8 });
  expect(w.written.map((f) => f.length)).toEqual([8]);
  expect(w.imageEvents('SUCCESS')).toHaveLength(1);
  // Region 0's status went out with A's delivery, once.
  expect(w.regionEvents(regionRequest(0).region_id).map((e) => e.attributes.status)).toEqual(['SUCCESS']);
});

test('an aggregator whose lease was taken (it stalled past it) stops before writing any sink and leaves the new owner\'s lease alone', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  // While A reads the image's features, its lease runs out and B takes it.
  let stolen = false;
  const stalling = Object.assign(Object.create(w.features) as MemoryFeatureStore, {
    itemsOfImage: async function* (...args: Parameters<MemoryFeatureStore['itemsOfImage']>) {
      if (!stolen) {
        stolen = true;
        await w.jobs.update(imageId, { aggregation_lease_until: 0 });
        expect(await w.jobs.claimAggregation(imageId, 'B', 60_000)).toBe(true);
      }
      yield* w.features.itemsOfImage(...args);
    },
  });
  const disposition = await handleRegionMessage(w.container('A', { features: stalling }), message(regionRequest(0), 1), noSignal);
  expect(stolen).toBe(true);
  expect(w.written).toEqual([]); // no sink written by A
  const job = (await w.jobs.get(imageId))!;
  expect(job.end_time).toBeUndefined();
  expect(job.aggregation_owner).toBe('B');
  // A's message comes back once B's lease (60 s) has run out, in case B died.
  expect(disposition).toMatchObject({ resendAfterSeconds: expect.any(Number) });
  expect((disposition as { resendAfterSeconds: number }).resendAfterSeconds).toBeGreaterThanOrEqual(59);
  expect(w.imageEvents()).toHaveLength(0);
});

test('a region that fails on its last delivery after it started counts that delivery once in region_retry_count', async () => {
  const w = world();
  await tilesDone(w); // region 0's item was created by its first delivery
  // The job table refuses to count the region: every delivery fails after starting the region.
  const refusing = Object.assign(Object.create(w.jobs) as MemoryJobStore, { completeRegion: () => Promise.reject(new Error('DynamoDB unavailable')) });
  const a = w.container('A', { jobs: refusing });
  const r0 = regionRequest(0);
  // Deliveries 2 and 3 (the last: maxDeliveries is 3); the last one also goes through failRegion.
  await expect(handleRegionMessage(a, message(r0, 2), noSignal)).rejects.toThrow(/DynamoDB unavailable/);
  await expect(handleRegionMessage(a, message(r0, 3), noSignal)).rejects.toThrow(/DynamoDB unavailable/);
  // Three deliveries, two of them retries.
  expect((await w.regions.get(imageId, r0.region_id))!.region_retry_count).toBe(2);
});

describe('on the local stack (dynalite, s3rver, kinesalite)', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack();
  });
  afterAll(async () => stack?.stop());

  test('a failure after the sinks were written: the redelivery ends the job without writing them again (one Kinesis record per feature, one S3 upload)', async () => {
    const w = world();
    const prefix = 'once';
    await tilesDone(w, [{ type: 'S3', bucket: stack.names.bucket, prefix }, { type: 'Kinesis', stream: stack.names.stream }]);
    await otherRegionFinished(w);
    // Every S3 upload that completes an object, counted on the wire.
    const s3 = createS3Client(stack.config);
    let uploads = 0;
    s3.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'PutObjectCommand' || context.commandName === 'CompleteMultipartUploadCommand') uploads++;
      return next(args);
    }, { step: 'initialize' });
    const sinkClients = { s3: () => s3, kinesis: () => stack.clients.kinesis };
    // Container A writes both sinks, then the table refuses the job's end once.
    let endFailures = 1;
    const flakyJobs = Object.assign(Object.create(w.jobs) as MemoryJobStore, {
      end: (...args: Parameters<MemoryJobStore['end']>) => (endFailures-- > 0 ? Promise.reject(new Error('DynamoDB unavailable')) : w.jobs.end(...args)),
    });
    await expect(handleRegionMessage(w.container('A', { jobs: flakyJobs, sinkClients, observer: undefined }), message(regionRequest(0), 1), noSignal)).rejects.toThrow(/DynamoDB unavailable/);
    expect((await w.jobs.get(imageId))!.end_time).toBeUndefined();
    expect(uploads).toBe(1);

    await deleted(handleRegionMessage(w.container('B', { sinkClients, observer: undefined }), message(regionRequest(0), 2), noSignal));
    const job = (await w.jobs.get(imageId))!;
    expect(job).toMatchObject({ image_status: 'SUCCESS', feature_count: 8 });
    expect(w.imageEvents('SUCCESS')).toHaveLength(1);

    // One feature per tile at [x + 100, y + 100, x + 150, y + 150] (tilesDone): 256-pixel tiles of 1024 x 512.
    const expected: string[] = [];
    for (const y of [0, 256]) for (const x of [0, 256, 512, 768]) expected.push([x + 100, y + 100, x + 150, y + 150].join(','));
    const bbox = (f: { properties: { imageBBox: number[] } }) => f.properties.imageBBox.join(',');
    const records = (await kinesisRecords(stack, stack.names.stream)).filter((r) => r.partitionKey === JOB);
    // OSML's record: a FeatureCollection of the one feature.
    expect(records.map((r) => (JSON.parse(r.data) as { features: { properties: { imageBBox: number[] } }[] }).features.map(bbox)).sort()).toEqual(expected.sort().map((b) => [b]));
    expect(uploads).toBe(1);
    const collection = JSON.parse(await readS3Text(stack, stack.names.bucket, `${prefix}/${JOB}.geojson`)) as { features: { properties: { imageBBox: number[] } }[] };
    expect(collection.features.map(bbox).sort()).toEqual(expected.sort());
  });

  test('OSML\'s outstanding record counts one attempt for a job whose image message comes back as delayed copies while another container holds the aggregation lease', async () => {
    const w = world();
    const jobId = 'job-attempts';
    const request = { jobId, imageUrls: [img], outputs: [{ type: 'S3', bucket: stack.names.bucket, prefix: 'attempts' }], imageProcessor: { name: MODEL, type: 'HTTP_ENDPOINT' }, imageProcessorTileSize: 256, imageProcessorTileOverlap: 0, imageProcessorTileFormat: 'PNG' };
    const attemptsImageId = `${jobId}:${img}`;
    // One region (REGION_SIZE 1024 over the 1024 x 512 image) whose eight tiles already ran: no model is called here.
    const single: TilingSpec = { ...tiling(), regionSize: { width: 1024, height: 1024 } };
    const [region] = planTiling(single).regions;
    const regionId = regionIdOf(region, jobId);
    const tiles = tilesOfRegion(planTiling(single), region);
    await w.regions.start({ image_id: attemptsImageId, region_id: regionId, job_id: jobId });
    for (const t of tiles) await w.features.writeTileFeatures(attemptsImageId, tileIdOf(t), []);
    await w.regions.recordTiles(attemptsImageId, regionId, { succeeded: tiles.map((t) => ({ id: tileIdOf(t) })) });
    // Whenever this container goes to aggregate, container B holds the lease (for 60 s).
    const leasedElsewhere = Object.assign(Object.create(w.jobs) as MemoryJobStore, {
      claimAggregation: async (id: string, owner: string, leaseMs: number) => {
        await w.jobs.update(id, { aggregation_owner: 'B', aggregation_lease_until: Date.now() + 60_000 });
        return w.jobs.claimAggregation(id, owner, leaseMs);
      },
    });
    const outstanding = new OutstandingJobsTable(stack.clients.dynamodb, stack.names.outstandingTable);
    const base = w.container('A');
    const a = w.container('A', { jobs: leasedElsewhere, outstanding, capacity: undefined, config: { ...base.config, regionSize: { width: 1024, height: 1024 } } });
    // The request, then two delayed copies of it (new messages: each a first receive, with its own id).
    for (const copy of [1, 2, 3]) {
      const disposition = await handleImageMessage(a, { ...message(request, 1), id: `copy-${copy}` }, noSignal);
      expect(disposition).toMatchObject({ resendAfterSeconds: expect.any(Number) });
    }
    expect(await w.jobs.get(attemptsImageId)).toMatchObject({ region_count: 1, completed_region_ids: [regionId] });
    expect(await outstanding.get(MODEL, jobId)).toMatchObject({ num_attempts: 1, region_count: 1, regions_complete: [regionId] });
  });
});

test('a container that died between the end and the final status: the redelivery publishes it, records the metric, releases the endpoint', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  await countRegion(w, 0);
  await w.regions.markStatusPublished(imageId, regionRequest(0).region_id);
  // A aggregated and ended the job, then died.
  expect(await w.jobs.claimAggregation(imageId, 'A', 60_000)).toBe(true);
  const { job: ended } = await w.jobs.end(imageId, 'SUCCESS', '8 features');

  await deleted(handleRegionMessage(w.container('B'), message(regionRequest(0), 2), noSignal));
  expect(w.imageEvents().map((e) => e.attributes)).toEqual([
    { status: 'SUCCESS', image_status: 'SUCCESS', job_id: JOB, image_id: imageId, processing_duration: String(ended.processing_duration) },
  ]);
  expect(w.metrics.filter((m) => m === 'ImageProcessing')).toHaveLength(1);
  expect(w.released).toEqual([imageId]);
  expect(w.written).toEqual([]); // not aggregated again

  // Recorded: a later redelivery (of this or another region) does not publish again.
  await deleted(handleRegionMessage(w.container('C'), message(regionRequest(1), 2), noSignal));
  expect(w.imageEvents()).toHaveLength(1);
  expect(w.events.filter((e) => e.kind === 'region')).toHaveLength(0);
});

test('a delivery that finds, when it goes to aggregate, that another one has just ended the job publishes what the end still owes', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  await countRegion(w, 0);
  // Between this delivery's "image complete" and its claim, A aggregated and ended the job, then died unpublished.
  expect(await w.jobs.claimAggregation(imageId, 'A', 60_000)).toBe(true);
  const { job: ended } = await w.jobs.end(imageId, 'SUCCESS', '8 features');
  expect(await aggregateImage(w.container('B'), imageId)).toEqual({ aggregated: false });
  expect(w.imageEvents().map((e) => e.attributes.status)).toEqual(['SUCCESS']);
  expect((await w.jobs.get(imageId))!.final_status_published_time).toBeGreaterThanOrEqual(ended.end_time!);
  expect(w.written).toEqual([]);
  // Published once: another look changes nothing.
  expect(await aggregateImage(w.container('C'), imageId)).toEqual({ aggregated: false });
  expect(w.imageEvents()).toHaveLength(1);
});

test('a region counted by a container that died before publishing its status: the redelivery publishes it', async () => {
  const w = world();
  await tilesDone(w);
  await countRegion(w, 1); // region 1's container died right after counting it
  const r0 = regionRequest(0), r1 = regionRequest(1);
  // Region 0 is the last: its delivery publishes its own status and aggregates the image.
  await deleted(handleRegionMessage(w.container('B'), message(r0, 1), noSignal));
  expect(w.regionEvents(r0.region_id).map((e) => e.attributes.status)).toEqual(['SUCCESS']);
  expect(w.imageEvents('SUCCESS')).toHaveLength(1);
  expect(w.regionEvents(r1.region_id)).toHaveLength(0);

  // Region 1's message comes back to a job that has ended: its status is published now, once.
  await deleted(handleRegionMessage(w.container('C'), message(r1, 2), noSignal));
  const [event] = w.regionEvents(r1.region_id);
  const stored = (await w.regions.get(imageId, r1.region_id))!;
  expect(stored.processing_duration).toBeGreaterThan(0);
  expect(event.attributes).toEqual({ status: 'SUCCESS', job_id: JOB, image_id: imageId, region_id: r1.region_id, processing_duration: String(stored.processing_duration) });
  await deleted(handleRegionMessage(w.container('C'), message(r1, 3), noSignal));
  expect(w.regionEvents(r1.region_id)).toHaveLength(1);
  expect(w.imageEvents()).toHaveLength(1);
});

test('SNS refusing the final status: the message is kept until a delivery publishes it', async () => {
  const w = world();
  await tilesDone(w);
  await otherRegionFinished(w);
  w.failImagePublishes.remaining = 1;
  await expect(handleRegionMessage(w.container('A'), message(regionRequest(0), 1), noSignal)).rejects.toThrow(/not published/);
  expect((await w.jobs.get(imageId))!.image_status).toBe('SUCCESS');
  expect(w.imageEvents()).toHaveLength(0);
  await deleted(handleRegionMessage(w.container('B'), message(regionRequest(0), 2), noSignal));
  expect(w.imageEvents('SUCCESS')).toHaveLength(1);
  expect(w.written).toHaveLength(1); // aggregated once
});

test('a failed image whose dead-letter send failed: the redelivery sends it, the FAILED status goes out once', async () => {
  const w = world();
  const request = { jobId: 'job-missing', imageUrls: [join(tempDir('tessera-agg-'), 'missing.tif')], outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p/' }], imageProcessor: { name: MODEL, type: 'HTTP_ENDPOINT' } };
  const missingId = `job-missing:${request.imageUrls[0]}`;
  let sendFailures = 1;
  const dlq = new MemoryQueue('local://image-dlq');
  const flakyDlq = Object.assign(Object.create(dlq) as MemoryQueue, {
    send: (body: string | object, options?: Parameters<MemoryQueue['send']>[1]) => (sendFailures-- > 0 ? Promise.reject(new Error('SQS unavailable')) : dlq.send(body, options)),
  });
  const ctx = w.container('A', { imageDlq: flakyDlq });
  await expect(handleImageMessage(ctx, message(request, 1), noSignal)).rejects.toThrow(/SQS unavailable/);
  expect(await w.jobs.get(missingId)).toMatchObject({ image_status: 'FAILED' });
  expect(dlq.peek()).toHaveLength(0);

  await deleted(handleImageMessage(w.container('B', { imageDlq: flakyDlq }), message(request, 2), noSignal));
  const dead = dlq.peek();
  expect(dead).toHaveLength(1);
  expect(JSON.parse(dead[0].body)).toEqual(request);
  expect(dead[0].attributes.reason).toBe((await w.jobs.get(missingId))!.message);
  expect(w.imageEvents('FAILED').map((e) => e.attributes.image_id)).toEqual([missingId]);

  // Sent and recorded: a third delivery sends nothing more.
  await deleted(handleImageMessage(w.container('C', { imageDlq: flakyDlq }), message(request, 3), noSignal));
  expect(dlq.peek()).toHaveLength(1);
  expect(w.imageEvents('FAILED')).toHaveLength(1);
});
