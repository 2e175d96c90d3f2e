import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { JobTable } from '../src/state/job-table.js';
import { RegionTable } from '../src/state/region-table.js';
import { MemoryJobStore, MemoryRegionStore } from '../src/state/memory-stores.js';
import type { JobStore, RegionStore } from '../src/state/stores.js';
import { TileFailureTally } from '../src/state/tile-failures.js';
import { AggregationLeaseLostError, aggregateOnce, finalImageStatus, finishRegion } from '../src/service/region-completion.js';
import { outputsStatus, type SinkOutcome } from '../src/sinks/sink.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack();
});
afterAll(async () => stack?.stop());

test('a redelivered last region still leads to exactly one aggregation', async () => {
  const jobs = new JobTable(stack.clients.dynamodb, stack.names.jobTable);
  const regions = new RegionTable(stack.clients.dynamodb, stack.names.regionTable);
  const imageId = 'job:img';
  await jobs.start({ image_id: imageId, job_id: 'job', image_url: 'img', model_name: 'm', model_invoke_mode: 'HTTP_ENDPOINT' });
  await jobs.update(imageId, { region_count: 2, image_status: 'IN_PROGRESS' });
  for (const r of ['r0', 'r1']) await regions.start({ image_id: imageId, region_id: r, job_id: 'job' });
  await regions.recordTiles(imageId, 'r0', { succeeded: [{ id: 'a' }, { id: 'b' }] });
  await regions.recordTiles(imageId, 'r1', { succeeded: [{ id: 'c' }] });

  const first = await finishRegion(jobs, regions, imageId, 'r0', 2);
  expect(first).toMatchObject({ counted: true, shouldAggregate: false });
  const last = await finishRegion(jobs, regions, imageId, 'r1', 2);
  expect(last).toMatchObject({ counted: true, shouldAggregate: true });
  expect(last.region).toMatchObject({ region_status: 'PARTIAL', failed_tile_count: 1 });

  // The container died before aggregating; the region message comes back.
  const redelivered = await finishRegion(jobs, regions, imageId, 'r1', 2);
  expect(redelivered).toMatchObject({ counted: false, shouldAggregate: true });
  expect(redelivered.job).toMatchObject({ region_success: 1, region_error: 1 });

  let runs = 0;
  const aggregate = async () => {
    runs++;
    return { outputs: 'SUCCESS' as const };
  };
  const [a, b] = await Promise.all([aggregateOnce(jobs, imageId, 'A', 60_000, aggregate), aggregateOnce(jobs, imageId, 'B', 60_000, aggregate)]);
  expect([a.ran, b.ran].filter(Boolean)).toHaveLength(1);
  expect(runs).toBe(1);
  expect((await jobs.get(imageId))!.image_status).toBe('PARTIAL');
  expect((await finishRegion(jobs, regions, imageId, 'r1', 2)).shouldAggregate).toBe(false);
  expect((await aggregateOnce(jobs, imageId, 'C', 60_000, aggregate)).ran).toBe(false);
});

describe.each([
  ['DynamoDB tables', () => ({ jobs: new JobTable(stack.clients.dynamodb, stack.names.jobTable), regions: new RegionTable(stack.clients.dynamodb, stack.names.regionTable) })],
  ['in-process stores', () => ({ jobs: new MemoryJobStore(), regions: new MemoryRegionStore() })],
] as const)('why a region failed (%s)', (name, stores) => {
  const setUp = async (jobs: JobStore, regions: RegionStore, imageId: string) => {
    await jobs.start({ image_id: imageId, job_id: 'why', image_url: 'img', model_name: 'm', model_invoke_mode: 'HTTP_ENDPOINT' });
    await jobs.update(imageId, { region_count: 1, image_status: 'IN_PROGRESS' });
    await regions.start({ image_id: imageId, region_id: 'r0', job_id: 'why', region_bounds: [[0, 512], [1024, 1024]] });
  };

  test('tiles that failed: the counts and the most common reasons, each with a tile, in tile_failures and message', async () => {
    const { jobs, regions } = stores();
    const imageId = `why-tiles-${name}:img`;
    await setUp(jobs, regions, imageId);
    await regions.recordTiles(imageId, 'r0', { succeeded: [{ id: '(0, 512)(512, 512)' }] });
    const tally = new TileFailureTally();
    const refused = 'could not reach model at http://127.0.0.1:1/invocations (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1) after 6 attempts';
    tally.add('(0, 1024)(512, 512)', `(0, 1024)(512, 512): ${refused}`);
    tally.add('(512, 512)(512, 512)', `(512, 512)(512, 512): ${refused}`);
    tally.add('(512, 1024)(512, 512)', 'tile (512, 1024)(512, 512): model returned HTTP 400: bad tile');
    const { region } = await finishRegion(jobs, regions, imageId, 'r0', 4, undefined, tally.top());
    expect(region).toMatchObject({ region_status: 'PARTIAL', failed_tile_count: 3, total_tiles: 4 });
    expect(region.message).toBe(`3 of 4 tiles failed; most often (2): (0, 1024)(512, 512): ${refused}; then (1): (512, 1024)(512, 512): model returned HTTP 400: bad tile`);
    expect(JSON.parse(region.tile_failures!)).toEqual({
      failed: 3, total: 4,
      reasons: [{ reason: refused, count: 2, tile: '(0, 1024)(512, 512)' }, { reason: 'model returned HTTP 400: bad tile', count: 1, tile: '(512, 1024)(512, 512)' }],
    });
    expect((await regions.get(imageId, 'r0'))!.tile_failures).toBe(region.tile_failures);
  });

  test('a region failed as a whole: its reason, every tile it had, and the region as the example', async () => {
    const { jobs, regions } = stores();
    const imageId = `why-whole-${name}:img`;
    await setUp(jobs, regions, imageId);
    const { region } = await finishRegion(jobs, regions, imageId, 'r0', 4, 'gave up after 3 deliveries: reading failed');
    expect(region).toMatchObject({ region_status: 'FAILED', failed_tile_count: 4, message: 'gave up after 3 deliveries: reading failed' });
    expect(JSON.parse(region.tile_failures!)).toEqual({ failed: 4, total: 4, reasons: [{ reason: 'gave up after 3 deliveries: reading failed', count: 4, tile: 'region (0, 512)(1024, 1024)' }], regionFailed: true });
  });

  test('a region whose tiles all succeeded has neither', async () => {
    const { jobs, regions } = stores();
    const imageId = `why-none-${name}:img`;
    await setUp(jobs, regions, imageId);
    await regions.recordTiles(imageId, 'r0', { succeeded: [{ id: 'a' }] });
    const { region } = await finishRegion(jobs, regions, imageId, 'r0', 1, undefined, new TileFailureTally().top());
    expect(region.region_status).toBe('SUCCESS');
    expect(region.message).toBeUndefined();
    expect(region.tile_failures).toBeUndefined();
  });
});

describe.each([
  ['DynamoDB job table', (now: () => number) => new JobTable(stack.clients.dynamodb, stack.names.jobTable, { now })],
  ['in-process job store', (now: () => number) => new MemoryJobStore({ now })],
] as const)('aggregation lease (%s)', (_name, jobTable) => {
  const job = async (jobs: JobStore, imageId: string) => {
    await jobs.start({ image_id: imageId, job_id: imageId.split(':')[0], image_url: 'img', model_name: 'm', model_invoke_mode: 'HTTP_ENDPOINT' });
    await jobs.update(imageId, { region_count: 1, image_status: 'IN_PROGRESS' });
    await jobs.completeRegion(imageId, 'r0', 'success');
  };

  test('an aggregation that throws gives the lease back; the error still reaches the caller', async () => {
    const jobs = jobTable(Date.now);
    const imageId = 'throws:img';
    await job(jobs, imageId);
    await expect(aggregateOnce(jobs, imageId, 'A', 60_000, async () => { throw new Error('sink crashed'); })).rejects.toThrow('sink crashed');
    expect((await jobs.get(imageId))!.aggregation_owner).toBeUndefined();
    const b = await aggregateOnce(jobs, imageId, 'B', 60_000, async () => ({ outputs: 'SUCCESS' as const }));
    expect(b).toMatchObject({ ran: true, job: { image_status: 'SUCCESS' } });
  });

  test('a lease left by an aggregator that died: others are told how long it lasts, then take over', async () => {
    let now = 10_000_000;
    const clock = () => now;
    const jobs = jobTable(clock);
    const imageId = 'died:img';
    await job(jobs, imageId);
    expect(await jobs.claimAggregation(imageId, 'A', 120_000)).toBe(true); // A dies holding it
    now += 30_000;
    let runs = 0;
    const aggregate = async () => (runs++, { outputs: 'SUCCESS' as const });
    expect(await aggregateOnce(jobs, imageId, 'B', 120_000, aggregate, clock)).toEqual({ ran: false, ended: false, leaseRemainingMs: 90_000 });
    now += 90_001;
    expect(await aggregateOnce(jobs, imageId, 'B', 120_000, aggregate, clock)).toMatchObject({ ran: true });
    expect(runs).toBe(1);
    expect(await aggregateOnce(jobs, imageId, 'C', 120_000, aggregate, clock)).toMatchObject({ ran: false, ended: true });
  });

  test('an aggregator that ran past its lease while another took it over records nothing more and does not end the job', async () => {
    let now = 20_000_000;
    const jobs = jobTable(() => now);
    const imageId = 'lost:img';
    await job(jobs, imageId);
    const result = aggregateOnce(jobs, imageId, 'A', 120_000, async (_job, lease) => {
      await lease.record({ output_outcome_0: 'written by A' }); // while A holds the lease
      now += 120_001; // A stalls past its lease; B takes over
      expect(await jobs.claimAggregation(imageId, 'B', 120_000)).toBe(true);
      await expect(lease.record({ output_outcome_1: 'written by A' })).rejects.toThrow(AggregationLeaseLostError);
      await expect(lease.hold()).rejects.toThrow(AggregationLeaseLostError);
      return { outputs: 'SUCCESS' as const };
    });
    await expect(result).rejects.toThrow(AggregationLeaseLostError);
    const after = (await jobs.get(imageId))!;
    expect(after.end_time).toBeUndefined();
    expect(after).toMatchObject({ aggregation_owner: 'B', aggregation_lease_until: now + 120_000, output_outcome_0: 'written by A' });
    expect(after.output_outcome_1).toBeUndefined();
    // B, the owner, records; nobody records on an ended job.
    expect(await jobs.updateUnderLease(imageId, 'B', { output_outcome_1: 'written by B' })).toBe(true);
    await jobs.end(imageId, 'SUCCESS');
    expect(await jobs.updateUnderLease(imageId, 'B', { output_outcome_2: 'late' })).toBe(false);
    expect(await jobs.get(imageId)).toMatchObject({ output_outcome_1: 'written by B' });
    expect((await jobs.get(imageId))!.output_outcome_2).toBeUndefined();
  });
});

describe('the final image status from its regions and its outputs', () => {
  const sink = (o: Partial<SinkOutcome>): SinkOutcome => ({ type: 'Kinesis', target: 'kinesis:s', ok: true, featuresWritten: 5, ...o });
  const skipped = { ok: false, featuresWritten: 4, featureErrors: [{ index: 2, reason: 'too big' }] };

  test('outputs: every feature written, some skipped, or a sink that wrote nothing', () => {
    expect(outputsStatus([sink({}), sink({ type: 'S3' })])).toBe('SUCCESS');
    expect(outputsStatus([sink({ type: 'S3' }), sink(skipped)])).toBe('PARTIAL');
    expect(outputsStatus([sink({ type: 'S3', ok: false, featuresWritten: 0, error: 'bucket missing' }), sink({})])).toBe('FAILED');
    expect(outputsStatus([sink({ ok: false, featuresWritten: 0, featureErrors: [{ index: 0, reason: 'too big' }] })])).toBe('FAILED');
    expect(outputsStatus([])).toBe('FAILED');
  });

  test('the worse of the two', () => {
    const cases: [Parameters<typeof finalImageStatus>[0], Parameters<typeof finalImageStatus>[1], string][] = [
      ['SUCCESS', 'SUCCESS', 'SUCCESS'], ['SUCCESS', 'PARTIAL', 'PARTIAL'], ['SUCCESS', 'FAILED', 'FAILED'],
      ['PARTIAL', 'SUCCESS', 'PARTIAL'], ['PARTIAL', 'PARTIAL', 'PARTIAL'], ['PARTIAL', 'FAILED', 'FAILED'],
      ['FAILED', 'SUCCESS', 'FAILED'], ['FAILED', 'PARTIAL', 'FAILED'],
    ];
    for (const [regions, outputs, expected] of cases) expect(finalImageStatus(regions, outputs), `${regions} + ${outputs}`).toBe(expected);
  });

  test('aggregateOnce ends a job whose regions all succeeded PARTIAL when a sink skipped features', async () => {
    const jobs = new MemoryJobStore();
    const imageId = 'skipped:img';
    await jobs.start({ image_id: imageId, job_id: 'skipped', image_url: 'img', model_name: 'm', model_invoke_mode: 'HTTP_ENDPOINT' });
    await jobs.update(imageId, { region_count: 1, image_status: 'IN_PROGRESS' });
    await jobs.completeRegion(imageId, 'r0', 'success');
    const result = await aggregateOnce(jobs, imageId, 'A', 60_000, async () => ({ outputs: 'PARTIAL' as const, message: 'Kinesis skipped one' }));
    expect(result).toMatchObject({ ran: true, job: { image_status: 'PARTIAL', message: 'Kinesis skipped one' } });
  });
});
