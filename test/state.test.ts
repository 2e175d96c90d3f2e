import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BatchWriteItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { createDynamoDbClient } from '../src/aws/clients.js';
import { JobTable, imageStatusOf, isImageComplete } from '../src/state/job-table.js';
import { RegionTable, regionStatusOf } from '../src/state/region-table.js';
import { FEATURE_SHARDS, FeatureTable, featureShard, packFeatures } from '../src/state/feature-table.js';
import { tableNamesFromEnv } from '../src/state/table-names.js';
import { ttlDaysFromEnv } from '../src/state/ttl.js';
import type { Feature } from '../src/features/geojson.js';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryFeatureStore, MemoryJobStore, MemoryRegionStore } from '../src/state/memory-stores.js';
import type { FeatureStore, JobStore, RegionStore } from '../src/state/stores.js';

let stack: LocalStack;
let ddb: DynamoDBClient;

beforeAll(async () => {
  stack = await startLocalStack();
  ddb = stack.clients.dynamodb;
});
afterAll(async () => stack?.stop());

const feature = (id: string, extra: Record<string, unknown> = {}): Feature => ({
  type: 'Feature',
  id,
  geometry: { type: 'Point', coordinates: [1, 2] },
  properties: { id, ...extra },
});

const all = async (table: FeatureStore, imageId: string) => {
  const out: Feature[] = [];
  for await (const f of table.featuresOfImage(imageId)) out.push(f);
  return out;
};

const jobStart = (imageId: string) => ({ image_id: imageId, job_id: imageId.split(':')[0], image_url: 's3://b/i.tif', model_name: 'centerpoint', model_invoke_mode: 'HTTP_ENDPOINT' });

describe('configuration', () => {
  test('table names come from OSML env names, OLD names first', () => {
    expect(tableNamesFromEnv({ IMAGE_REQUEST_TABLE: 'new', REGION_REQUEST_TABLE: 'r', FEATURE_TABLE: 'f', OUTSTANDING_IMAGE_REQUEST_TABLE: 'o' })).toEqual({ job: 'new', region: 'r', feature: 'f', endpoint: undefined, outstanding: 'o' });
    expect(tableNamesFromEnv({ JOB_TABLE: 'old', IMAGE_REQUEST_TABLE: 'new', REGION_REQUEST_TABLE: 'r', FEATURE_TABLE: 'f' }).job).toBe('old');
    expect(() => tableNamesFromEnv({ FEATURE_TABLE: 'f' })).toThrow(/JOB_TABLE.*REGION_REQUEST_TABLE/);
    expect(ttlDaysFromEnv({})).toBe(1);
    expect(ttlDaysFromEnv({ DDB_TTL_IN_DAYS: '7' })).toBe(7);
    expect(() => ttlDaysFromEnv({ DDB_TTL_IN_DAYS: 'x' })).toThrow(/DDB_TTL_IN_DAYS/);
  });

  test('the dev stack env names the tables it created', () => {
    expect(tableNamesFromEnv(stack.env)).toMatchObject({ job: stack.names.jobTable, region: stack.names.regionTable, feature: stack.names.featureTable });
  });
});

describe('DynamoDB key limits', () => {
  // parseServiceRequest admits a jobId of up to 960 bytes and an image id of up to 2040 (image-job.ts): every key
  // derived from them fits DynamoDB's limits (partition key 2048 bytes, sort key 1024); one byte over those fails.
  test('the longest ids a request may have give keys DynamoDB takes', async () => {
    const jobId = 'j'.repeat(960);
    const imageId = `${jobId}:s3://bkt/${'k'.repeat(2040 - 961 - 'bkt/'.length - 's3://'.length)}`;
    expect(Buffer.byteLength(imageId)).toBe(2040);
    const jobs = new JobTable(ddb, stack.names.jobTable);
    expect((await jobs.claimJobId(jobId, { image_id: imageId })).claimed).toBe(true);
    expect((await jobs.start({ ...jobStart(imageId), job_id: jobId })).created).toBe(true);
    const regions = new RegionTable(ddb, stack.names.regionTable);
    const regionId = `(2147483647, 2147483647)(2147483647, 2147483647)-${jobId}`;
    expect((await regions.start({ image_id: imageId, region_id: regionId, job_id: jobId, region_bounds: [[0, 0], [1, 1]] })).created).toBe(true);
    const features = new FeatureTable(ddb, stack.names.featureTable);
    await features.writeTileFeatures(imageId, '(2147483647, 2147483647)(8192, 8192)', [feature('f')]);
    expect(await all(features, imageId)).toHaveLength(1);
  });

  test('one byte over DynamoDB\'s limits is refused (what an unchecked request met on every delivery)', async () => {
    const jobs = new JobTable(ddb, stack.names.jobTable);
    await expect(jobs.start(jobStart('x'.repeat(2049)))).rejects.toThrow(/hashkey has exceeded the maximum size limit of ?2048 bytes/);
    const regions = new RegionTable(ddb, stack.names.regionTable);
    await expect(regions.start({ image_id: 'limits:img', region_id: 'r'.repeat(1025), job_id: 'limits', region_bounds: [[0, 0], [1, 1]] })).rejects.toThrow(/range keys has exceeded the size limit of 1024 bytes/);
  });
});

/**
 * The handlers' contract with their state, run against both implementations: the DynamoDB tables (tessera serve)
 * and the in-process stores (tessera run goes through the same handlers with them).
 */
interface StoreFactory {
  jobs(options?: { ttlDays?: number; now?: () => number }): JobStore;
  regions(options?: { tilesPerUpdate?: number; now?: () => number }): RegionStore;
  features(options?: { maxItemBytes?: number; pageSize?: number }): FeatureStore;
}
const implementations: Array<[string, StoreFactory]> = [
  ['DynamoDB tables', {
    jobs: (o) => new JobTable(ddb, stack.names.jobTable, o),
    regions: (o) => new RegionTable(ddb, stack.names.regionTable, o),
    features: (o) => new FeatureTable(ddb, stack.names.featureTable, o),
  }],
  ['in-process stores', {
    jobs: (o) => new MemoryJobStore(o),
    regions: (o) => new MemoryRegionStore(o),
    features: (o) => new MemoryFeatureStore(o?.maxItemBytes),
  }],
  // tessera run's store: the same contract with the features in a temporary file
  ['in-process stores spilling features to a file', {
    jobs: (o) => new MemoryJobStore(o),
    regions: (o) => new MemoryRegionStore(o),
    features: (o) => new MemoryFeatureStore({ ...(o?.maxItemBytes ? { maxItemBytes: o.maxItemBytes } : {}), spillDir: tmpdir() }),
  }],
];

describe.each(implementations)('%s', (_name, factory) => {
  const stores = () => factory;
  describe('job table', () => {
    test('start is conditional: a second start keeps the running job', async () => {
      const jobs = stores().jobs();
      const first = await jobs.start(jobStart('j1:img'));
      expect(first.created).toBe(true);
      expect(first.job).toMatchObject({ region_success: 0, region_error: 0, image_status: 'STARTED', completed_region_ids: [] });
      await jobs.update('j1:img', { region_count: 3, width: 100, height: 50, image_status: 'IN_PROGRESS' });
      await jobs.completeRegion('j1:img', 'r0', 'success');
      const again = await jobs.start(jobStart('j1:img'));
      expect(again.created).toBe(false);
      expect(again.job).toMatchObject({ region_count: 3, region_success: 1, completed_region_ids: ['r0'], image_status: 'IN_PROGRESS' });
    });

    test('every item carries expire_time = start + DDB_TTL_IN_DAYS', async () => {
      const now = 1_700_000_000_000;
      const jobs = stores().jobs({ ttlDays: 2, now: () => now });
      const { job } = await jobs.start(jobStart('ttl:img'));
      expect(job.start_time).toBe(now);
      expect(job.expire_time).toBe(now / 1000 + 2 * 86_400);
      expect((await jobs.get('ttl:img'))!.expire_time).toBe(now / 1000 + 2 * 86_400);
    });

    test('a region counts once however often it completes, and the image completes exactly once', async () => {
      const jobs = stores().jobs();
      await jobs.start(jobStart('j2:img'));
      await jobs.update('j2:img', { region_count: 2 });

      const a = await jobs.completeRegion('j2:img', 'r0', 'success');
      expect(a.counted).toBe(true);
      expect(isImageComplete(a.job)).toBe(false);

      const redelivered = await jobs.completeRegion('j2:img', 'r0', 'success');
      expect(redelivered.counted).toBe(false);
      expect(redelivered.job).toMatchObject({ region_success: 1, region_error: 0, completed_region_ids: ['r0'] });
      // A redelivery that now reports the other outcome still does not count.
      expect((await jobs.completeRegion('j2:img', 'r0', 'error')).job).toMatchObject({ region_success: 1, region_error: 0 });

      // The last region, delivered several times at once: exactly one delivery counts and sees the image complete.
      const results = await Promise.all(Array.from({ length: 5 }, () => jobs.completeRegion('j2:img', 'r1', 'error')));
      const counted = results.filter((r) => r.counted);
      expect(counted).toHaveLength(1);
      expect(isImageComplete(counted[0].job)).toBe(true);
      const job = (await jobs.get('j2:img'))!;
      expect(job).toMatchObject({ region_count: 2, region_success: 1, region_error: 1, completed_region_ids: ['r0', 'r1'] });
      expect(imageStatusOf(job)).toBe('PARTIAL');
    });

    test('aggregation lease: one owner at a time, renewable, gone after the end', async () => {
      let now = 1_000_000;
      const jobs = stores().jobs({ now: () => now });
      await jobs.start(jobStart('j3:img'));
      expect(await jobs.claimAggregation('j3:img', 'a', 10_000)).toBe(true);
      expect(await jobs.claimAggregation('j3:img', 'b', 10_000)).toBe(false);
      expect(await jobs.claimAggregation('j3:img', 'a', 10_000)).toBe(true);
      now += 20_000; // a's lease expired (a died): b may take over
      expect(await jobs.claimAggregation('j3:img', 'b', 10_000)).toBe(true);
      const end = await jobs.end('j3:img', 'SUCCESS');
      expect(end.ended).toBe(true);
      expect(end.job).toMatchObject({ image_status: 'SUCCESS', end_time: now, processing_duration: 20 });
      expect((await jobs.end('j3:img', 'FAILED')).ended).toBe(false);
      expect((await jobs.get('j3:img'))!.image_status).toBe('SUCCESS');
      expect(await jobs.claimAggregation('j3:img', 'b', 10_000)).toBe(false);
    });

    test('aggregation lease: released only by its owner, and then free for anyone', async () => {
      let now = 5_000_000;
      const jobs = stores().jobs({ now: () => now });
      await jobs.start(jobStart('rel:img'));
      expect(await jobs.releaseAggregation('rel:img', 'a')).toBe(false); // no lease yet
      expect(await jobs.claimAggregation('rel:img', 'a', 60_000)).toBe(true);
      expect(await jobs.releaseAggregation('rel:img', 'b')).toBe(false);
      expect(await jobs.claimAggregation('rel:img', 'b', 60_000)).toBe(false); // b's release did not free it
      expect(await jobs.releaseAggregation('rel:img', 'a')).toBe(true);
      const released = (await jobs.get('rel:img'))!;
      expect(released.aggregation_owner).toBeUndefined();
      expect(released.aggregation_lease_until).toBeUndefined();
      now += 1; // well inside a's 60 s
      expect(await jobs.claimAggregation('rel:img', 'b', 60_000)).toBe(true);
      expect(await jobs.releaseAggregation('rel:img', 'a')).toBe(false); // a's late release leaves b's lease alone
      expect(await jobs.get('rel:img')).toMatchObject({ aggregation_owner: 'b', aggregation_lease_until: now + 60_000 });
      await expect(jobs.releaseAggregation('missing:img', 'a')).resolves.toBe(false);
    });

    test('end writes extra attributes with the end, and only if it ends the job', async () => {
      const jobs = stores().jobs();
      await jobs.start(jobStart('endx:img'));
      const first = await jobs.end('endx:img', 'FAILED', 'unreadable', { dead_letter_pending: true });
      expect(first).toMatchObject({ ended: true, job: { image_status: 'FAILED', message: 'unreadable', dead_letter_pending: true } });
      const second = await jobs.end('endx:img', 'SUCCESS', 'late', { other: 'x' });
      expect(second.ended).toBe(false);
      expect(second.job).toMatchObject({ image_status: 'FAILED', message: 'unreadable', dead_letter_pending: true });
      expect((await jobs.get('endx:img'))!.other).toBeUndefined();
      await expect(jobs.end('endx:img', 'FAILED', 'x', { region_success: 1 })).rejects.toThrow(/managed/);
    });

    test('a jobId is claimed for one image: the same image again keeps the claim as it was, another image is refused', async () => {
      const now = 1_700_000_000_000;
      const jobs = stores().jobs({ ttlDays: 2, now: () => now });
      const first = await jobs.claimJobId('claim-1', { image_id: 'claim-1:s3://b/a.tif', request_message_id: 'm-1', request_hash: 'h-1' });
      const stored = { image_id: 'job-id#claim-1', item_type: 'JOB_ID_CLAIM', job_id: 'claim-1', claimed_image_id: 'claim-1:s3://b/a.tif', request_message_id: 'm-1', request_hash: 'h-1', claim_time: now, expire_time: now / 1000 + 2 * 86_400 };
      expect(first).toEqual({ claimed: true, claim: stored });
      // The same image (a redelivery, or another request for it, which the job item's identity then tells apart).
      expect(await jobs.claimJobId('claim-1', { image_id: 'claim-1:s3://b/a.tif', request_message_id: 'm-2', request_hash: 'h-2' })).toEqual({ claimed: true, claim: stored });
      // Another image under the same jobId.
      expect(await jobs.claimJobId('claim-1', { image_id: 'claim-1:s3://b/other.tif', request_message_id: 'm-3', request_hash: 'h-3' })).toEqual({ claimed: false, claim: stored });
      // The claim is an item of its own: no job item is made or changed by it.
      expect(await jobs.get('claim-1:s3://b/a.tif')).toBeUndefined();
      await jobs.start({ ...jobStart('claim-1:s3://b/a.tif'), image_url: 's3://b/a.tif' });
      expect((await jobs.claimJobId('claim-1', { image_id: 'claim-1:s3://b/a.tif' })).claim).toEqual(stored);
    });

    test('a jobId claimed by several images at once goes to exactly one of them', async () => {
      const jobs = stores().jobs();
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => jobs.claimJobId('claim-race', { image_id: `claim-race:s3://b/${i}.tif` })));
      const winners = results.filter((r) => r.claimed);
      expect(winners).toHaveLength(1);
      for (const r of results) expect(r.claim.claimed_image_id).toBe(winners[0].claim.claimed_image_id);
    });

    test('status is derived as OSML does', async () => {
      const base = { image_id: 'x', start_time: 0, expire_time: 0, region_success: 0, region_error: 0, completed_region_ids: [] as string[] };
      expect(imageStatusOf({ ...base, region_count: 2, region_success: 1, completed_region_ids: ['a'] })).toBe('IN_PROGRESS');
      expect(imageStatusOf({ ...base, region_count: 2, region_success: 2, completed_region_ids: ['a', 'b'] })).toBe('SUCCESS');
      expect(imageStatusOf({ ...base, region_count: 2, region_error: 2, completed_region_ids: ['a', 'b'] })).toBe('FAILED');
      await expect(stores().jobs().update('x', { region_success: 3 })).rejects.toThrow(/managed/);
    });
  });

  describe('region table', () => {
    test('start or redelivery, idempotent tile records, one completion', async () => {
      const regions = stores().regions({ tilesPerUpdate: 2 });
      const first = await regions.start({ image_id: 'j:img', region_id: 'r0', job_id: 'j', region_bounds: [[0, 0], [100, 100]], tile_size: [50, 50] });
      expect(first.created).toBe(true);
      expect(first.region).toMatchObject({ region_status: 'STARTED', region_retry_count: 0, succeeded_tile_ids: [] });
      expect(first.region.expire_time).toBeGreaterThan(Date.now() / 1000 + 86_000);

      const t = (id: string, r: number, c: number) => ({ id, bounds: [[r, c], [50, 50]] as [[number, number], [number, number]] });
      await regions.recordTiles('j:img', 'r0', { succeeded: [t('t1', 0, 0), t('t2', 0, 50)], failed: [t('t3', 50, 0)] });
      // The region is redelivered: tiles reported again, t3 retried and now succeeding, t1 reported failed late.
      const again = await regions.start({ image_id: 'j:img', region_id: 'r0', job_id: 'j' });
      expect(again.created).toBe(false);
      expect(again.region.region_retry_count).toBe(1);
      expect(await regions.succeededTileIds('j:img', 'r0')).toEqual(new Set(['t1', 't2']));
      await regions.recordTiles('j:img', 'r0', { succeeded: [t('t1', 0, 0), t('t2', 0, 50), t('t3', 50, 0)], failed: [t('t1', 0, 0)] });

      const r = (await regions.get('j:img', 'r0'))!;
      expect(r.succeeded_tile_ids).toEqual(['t1', 't2', 't3']);
      expect(r.failed_tile_ids).toEqual([]);
      expect(r.succeeded_tiles).toHaveLength(3);
      expect(r.succeeded_tiles![2]).toEqual([[50, 0], [50, 50]]);
      expect(r.failed_tiles).toHaveLength(1); // OSML's list keeps the history; the sets decide the counts

      const done = await regions.complete('j:img', 'r0', 4);
      expect(done.completed).toBe(true);
      expect(done.region).toMatchObject({ region_status: 'PARTIAL', total_tiles: 4, succeeded_tile_count: 3, failed_tile_count: 1 });
      expect(done.region.processing_duration).toBeGreaterThanOrEqual(0);
      expect(done.region.end_time).toBeGreaterThanOrEqual(done.region.start_time);
      const twice = await regions.complete('j:img', 'r0', 4);
      expect(twice.completed).toBe(false);
      expect(twice.region.end_time).toBe(done.region.end_time);
    });

    test('the published status is recorded on the region and kept by a later completion', async () => {
      const regions = stores().regions({ now: () => 7_000_000 });
      await regions.start({ image_id: 'pub:img', region_id: 'r0', job_id: 'pub' });
      const done = await regions.complete('pub:img', 'r0', 0);
      expect(done.region.status_published_time).toBeUndefined();
      await regions.markStatusPublished('pub:img', 'r0');
      expect((await regions.get('pub:img', 'r0'))!.status_published_time).toBe(7_000_000);
      expect((await regions.complete('pub:img', 'r0', 0)).region.status_published_time).toBe(7_000_000);
      await expect(regions.markStatusPublished('pub:img', 'missing')).rejects.toThrow(/not found/);
    });

    test('failure and status rule', async () => {
      const regions = stores().regions();
      await regions.start({ image_id: 'j:img', region_id: 'bad', job_id: 'j' });
      const failed = await regions.fail('j:img', 'bad', 'image could not be opened');
      expect(failed.region).toMatchObject({ region_status: 'FAILED', message: 'image could not be opened' });
      expect(regionStatusOf(0, 0)).toBe('FAILED');
      expect(regionStatusOf(4, 0)).toBe('SUCCESS');
      expect(regionStatusOf(4, 4)).toBe('FAILED');
      await expect(regions.recordTiles('j:img', 'missing', { succeeded: [{ id: 'x' }] })).rejects.toThrow(/not found/);
    });
  });

  describe('feature table', () => {
    test('keys are deterministic: a re-run of a tile replaces its features, including extra chunks', async () => {
      const table = stores().features({ maxItemBytes: 400 });
      const big = Array.from({ length: 8 }, (_, i) => feature(`a${i}`, { pad: 'x'.repeat(100) }));
      const items = await table.writeTileFeatures('img-r', 'tile-1', big);
      expect(items).toBeGreaterThan(3);
      expect((await all(table, 'img-r')).map((f) => f.id).sort()).toEqual(big.map((f) => f.id).sort());

      await table.writeTileFeatures('img-r', 'tile-1', [feature('b0'), feature('b1')]);
      expect((await all(table, 'img-r')).map((f) => f.id)).toEqual(['b0', 'b1']);
      await table.writeTileFeatures('img-r', 'tile-1', []);
      expect(await all(table, 'img-r')).toEqual([]);
    });

    test('rewriting a tile leaves a tile whose id extends it alone', async () => {
      const table = stores().features();
      let other = '';
      for (let i = 0; !other; i++) if (featureShard(`t-${i}`) === featureShard('t')) other = `t-${i}`;
      await table.writeTileFeatures('img-p', other, [feature('other')]);
      await table.writeTileFeatures('img-p', 't', [feature('t0'), feature('t1')]);
      await table.writeTileFeatures('img-p', 't', [feature('t2')]);
      expect((await all(table, 'img-p')).map((f) => f.id).sort()).toEqual(['other', 't2']);
    });

    test('items come back shard by shard, range keys in byte order within a shard (the order aggregation reads)', async () => {
      const table = stores().features();
      const ids = Array.from({ length: 30 }, (_, i) => `(${i * 384}, 0)(512, 512)`);
      for (const id of ids) await table.writeTileFeatures('img-o', id, [feature(id)]);
      const got: string[] = [];
      for await (const item of table.itemsOfImage('img-o')) got.push(item.rangeKey);
      const expected = ids.map((id) => `${id}-0`).sort((a, b) => featureShard(a.slice(0, -2)) - featureShard(b.slice(0, -2)) || (a < b ? -1 : a > b ? 1 : 0));
      expect(got).toEqual(expected);
    });

    test('the streaming reader returns every feature across all partitions and pages', async () => {
      const table = stores().features({ pageSize: 2 });
      const written: string[] = [];
      const shards = new Set<number>();
      await Promise.all(Array.from({ length: 40 }, (_, t) => {
        const fs = Array.from({ length: 3 }, (_, i) => feature(`s${t}-${i}`));
        written.push(...fs.map((f) => String(f.id)));
        shards.add(featureShard(`tile-${t}`));
        return table.writeTileFeatures('img-s', `tile-${t}`, fs);
      }));
      expect(shards.size).toBeGreaterThan(15);
      const read = await all(table, 'img-s');
      expect(read).toHaveLength(120);
      expect(read.map((f) => String(f.id)).sort()).toEqual(written.sort());
      expect(FEATURE_SHARDS).toBe(50);
    });

  });
});

describe('feature table (DynamoDB layout and retries)', () => {
  test('items use OSML key layout and carry expire_time', async () => {
    const now = 1_700_000_000_000;
    const table = new FeatureTable(ddb, stack.names.featureTable, { now: () => now });
    await table.writeTileFeatures('img-k', '(0, 0)(512, 512)', [feature('k0')]);
    const shard = featureShard('(0, 0)(512, 512)');
    const { Items } = await ddb.send(new QueryCommand({ TableName: stack.names.featureTable, KeyConditionExpression: 'hash_key = :h', ExpressionAttributeValues: { ':h': { S: `img-k-${shard}` } } }));
    expect(Items).toHaveLength(1);
    expect(Items![0].range_key.S).toBe('(0, 0)(512, 512)-0');
    expect(Items![0].tile_id.S).toBe('(0, 0)(512, 512)');
    expect(JSON.parse(Items![0].features.L![0].S!)).toMatchObject({ id: 'k0' });
    expect(Number(Items![0].expire_time.N)).toBe(now / 1000 + 86_400);
  });

  test('unprocessed batch items are retried', async () => {
    // A client that, like a throttled table, hands back half of every first batch as unprocessed.
    const real = createDynamoDbClient(stack.config);
    let dropped = 0;
    const flaky = {
      send: async (command: unknown) => {
        if (command instanceof BatchWriteItemCommand && dropped === 0) {
          const [table, requests] = Object.entries(command.input.RequestItems!)[0];
          const keep = requests.slice(0, Math.ceil(requests.length / 2));
          const rest = requests.slice(keep.length);
          dropped = rest.length;
          await real.send(new BatchWriteItemCommand({ RequestItems: { [table]: keep } }));
          return { UnprocessedItems: { [table]: rest } };
        }
        return real.send(command as never);
      },
    } as unknown as DynamoDBClient;
    const table = new FeatureTable(flaky, stack.names.featureTable, { maxItemBytes: 100, sleep: async () => undefined });
    const fs = Array.from({ length: 6 }, (_, i) => feature(`u${i}`, { pad: 'y'.repeat(80) }));
    await table.writeTileFeatures('img-u', 'tile', fs);
    expect(dropped).toBeGreaterThan(0);
    expect((await all(table, 'img-u')).map((f) => f.id).sort()).toEqual(fs.map((f) => f.id).sort());
    real.destroy();
  });

  test('packing keeps items under the limit and rejects a feature that fits in no item', () => {
    const fs = Array.from({ length: 10 }, (_, i) => feature(`p${i}`, { pad: 'é'.repeat(50) }));
    const chunks = packFeatures(fs, 300);
    for (const c of chunks) expect(c.length === 1 || c.reduce((n, s) => n + Buffer.byteLength(s), 0) <= 300).toBe(true);
    expect(chunks.flat()).toHaveLength(10);
    expect(() => packFeatures([feature('huge', { pad: 'z'.repeat(400_000) })], 300_000)).toThrow(/more than one DynamoDB item/);
  });
});

describe('in-process feature store spilling to a file', () => {
  test('holds the features in one temporary file, reads them back as written, and removes it on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spill-test-'));
    try {
      const store = new MemoryFeatureStore({ spillDir: dir });
      await store.writeTileFeatures('img', '(0, 0)(512, 512)', [feature('a'), feature('b')]);
      await store.writeTileFeatures('img', '(384, 0)(512, 512)', [feature('c')]);
      const [spill] = readdirSync(dir);
      expect(spill).toMatch(/^tessera-features-/);
      const file = join(dir, spill, 'features.json');
      // Each chunk is a JSON array of the features' JSON texts, appended: its bytes are the features' own.
      const expected = [JSON.stringify([JSON.stringify(feature('a')), JSON.stringify(feature('b'))]), JSON.stringify([JSON.stringify(feature('c'))])];
      expect(statSync(file).size).toBe(Buffer.byteLength(expected.join(''), 'utf8'));
      const ids: string[] = [];
      for await (const f of store.featuresOfImage('img')) ids.push(String(f.id));
      expect(ids.sort()).toEqual(['a', 'b', 'c']);
      store.close();
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
