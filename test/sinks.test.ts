import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand, type KinesisClient, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { writeFeatureCollection } from '../src/sinks/file-sink.js';
import { S3Sink, s3ObjectKey } from '../src/sinks/s3-sink.js';
import { KinesisSink, KINESIS_MAX_BATCH_BYTES, kinesisRecordData } from '../src/sinks/kinesis-sink.js';
import { FileSink, outputsStatus, writeToSinks } from '../src/sinks/sink.js';
import { sinksForOutputs } from '../src/sinks/sink-factory.js';
import { LOCAL_RUN_PATHS } from '../src/api/request-paths.js';
import type { Feature } from '../src/features/geojson.js';

let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  stack = await startLocalStack();
  dir = await mkdtemp(join(tmpdir(), 'tessera-sinks-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

const feature = (i: number, pad = 0): Feature => ({
  type: 'Feature',
  id: `f${i}`,
  geometry: { type: 'Point', coordinates: [i, i + 0.5] },
  properties: { index: i, label: 'ünïcode', ...(pad ? { pad: 'x'.repeat(pad) } : {}) },
});
const features = (n: number, pad = 0) => Array.from({ length: n }, (_, i) => feature(i, pad));
async function* slowly(list: Feature[]) {
  for (const f of list) yield f;
}

async function s3Text(key: string): Promise<string> {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.names.bucket, Key: key }));
  return out.Body!.transformToString('utf-8');
}

/** Every record in the stream's shard, in order. */
async function streamRecords(client: KinesisClient = stack.clients.kinesis): Promise<{ data: string; key: string }[]> {
  const { Shards } = await client.send(new ListShardsCommand({ StreamName: stack.names.stream }));
  const out: { data: string; key: string }[] = [];
  for (const shard of Shards!) {
    let { ShardIterator } = await client.send(new GetShardIteratorCommand({ StreamName: stack.names.stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    for (;;) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) out.push({ data: Buffer.from(r.Data!).toString('utf8'), key: r.PartitionKey! });
      if (!page.Records?.length) break;
      ShardIterator = page.NextShardIterator;
    }
  }
  return out;
}

/** Records written by one job (the stream is shared by the tests). */
const recordsOf = async (jobId: string) => (await streamRecords()).filter((r) => r.key === jobId);

describe('S3 sink', () => {
  test('object key follows OSML (os.path.join of prefix and jobId)', () => {
    expect(s3ObjectKey('job/', 'abc')).toBe('job/abc.geojson');
    expect(s3ObjectKey('job', 'abc')).toBe('job/abc.geojson');
    expect(s3ObjectKey('', 'abc')).toBe('abc.geojson');
    expect(s3ObjectKey('p', 'a/b/c')).toBe('p/c.geojson');
  });

  test('the object is byte-identical to the local file of the same features', async () => {
    const list = features(5);
    const extra = { jobId: 'job-1', note: 'x' };
    const sink = new S3Sink({ client: stack.clients.s3, bucket: stack.names.bucket, prefix: 'out/' });
    const result = await sink.write(() => slowly(list), { jobId: 'job-1', extra });
    expect(result).toEqual({ featuresWritten: 5, location: `s3://${stack.names.bucket}/out/job-1.geojson` });
    const path = join(dir, 'job-1.geojson');
    await writeFeatureCollection(path, list, extra);
    expect(await s3Text('out/job-1.geojson')).toBe(await readFile(path, 'utf8'));
    expect(JSON.parse(await s3Text('out/job-1.geojson')).features).toEqual(list);
  });

  test('a large collection goes up as a multipart upload', async () => {
    const list = features(6000, 1000); // ~6.2 MB: two 5 MiB parts
    let parts = 0;
    const real = stack.clients.s3;
    const client = new Proxy(real, {
      get: (target, prop) => (prop === 'send' ? (command: unknown) => ((parts += command instanceof UploadPartCommand ? 1 : 0), target.send(command as never)) : Reflect.get(target, prop)),
    }) as S3Client;
    const sink = new S3Sink({ client, bucket: stack.names.bucket, prefix: 'big', partSizeBytes: 5 * 1024 * 1024 });
    const result = await sink.write(() => slowly(list), { jobId: 'job-big' });
    expect(result.featuresWritten).toBe(6000);
    expect(parts).toBe(2);
    const parsed = JSON.parse(await s3Text('big/job-big.geojson'));
    expect(parsed.features).toHaveLength(6000);
    expect(parsed.features[5999].id).toBe('f5999');
  });

  test('a missing bucket is a clear error', async () => {
    const sink = new S3Sink({ client: stack.clients.s3, bucket: 'no-such-bucket', prefix: '' });
    await expect(sink.write(() => [], { jobId: 'j' })).rejects.toThrow(/no-such-bucket.*does not exist/);
  });
});

describe('Kinesis sink', () => {
  test('one record per feature, partition key = job id', async () => {
    const list = features(7);
    const sink = new KinesisSink({ client: stack.clients.kinesis, stream: stack.names.stream });
    const result = await sink.write(() => slowly(list), { jobId: 'kin-1' });
    expect(result).toEqual({ featuresWritten: 7, location: `kinesis:${stack.names.stream}` });
    const records = await recordsOf('kin-1');
    expect(records).toHaveLength(7);
    expect(records.map((r) => JSON.parse(r.data))).toEqual(list.map((f) => ({ type: 'FeatureCollection', features: [f] })));
    expect(records[0].data).toBe(kinesisRecordData(list[0]));
  });

  test('a feature over 1 MiB is an error for that feature only', async () => {
    const list = [feature(0), feature(1, 1_100_000), feature(2)];
    const sink = new KinesisSink({ client: stack.clients.kinesis, stream: stack.names.stream });
    const result = await sink.write(() => list, { jobId: 'kin-big' });
    expect(result.featuresWritten).toBe(2);
    expect(result.featureErrors).toEqual([{ index: 1, id: 'f1', reason: expect.stringMatching(/bytes, over Kinesis's 1048576-byte record limit/) }]);
    expect((await recordsOf('kin-big')).map((r) => JSON.parse(r.data).features[0].id)).toEqual(['f0', 'f2']);
  });

  test('batches stay within 500 records and 5 MiB, and rejected records are retried', async () => {
    const calls: { records: number; bytes: number }[] = [];
    let rejectOnce = true;
    const real = stack.clients.kinesis;
    // Spy on PutRecords; the first call rejects every third record as throttled without writing it, as Kinesis does.
    const client = {
      send: async (command: unknown) => {
        if (command instanceof PutRecordsCommand) {
          const recs = command.input.Records!;
          calls.push({ records: recs.length, bytes: recs.reduce((n, r) => n + r.Data!.length + Buffer.byteLength(r.PartitionKey!), 0) });
          if (rejectOnce) {
            rejectOnce = false;
            const keep = recs.filter((_, i) => i % 3 !== 0);
            await real.send(new PutRecordsCommand({ StreamName: command.input.StreamName, Records: keep }));
            return {
              FailedRecordCount: recs.length - keep.length,
              Records: recs.map((_, i) => (i % 3 === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' } : { SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
            } as PutRecordsCommandOutput;
          }
        }
        return real.send(command as never);
      },
    } as unknown as KinesisClient;
    const sink = new KinesisSink({ client, stream: stack.names.stream, sleep: async () => undefined });

    const many = features(1001);
    const r1 = await sink.write(() => slowly(many), { jobId: 'kin-many' });
    expect(r1.featuresWritten).toBe(1001);
    expect(calls.slice(0, 2).map((c) => c.records)).toEqual([500, 167]); // the retry of the 167 rejected records
    expect(calls.every((c) => c.records <= 500)).toBe(true);
    const ids = (await recordsOf('kin-many')).map((r) => JSON.parse(r.data).features[0].id);
    expect(ids).toHaveLength(1001);
    expect(new Set(ids).size).toBe(1001);

    calls.length = 0;
    const heavy = features(12, 450_000); // 12 × ~450 KB ≈ 5.4 MB: more than one 5 MiB batch
    const r2 = await sink.write(() => heavy, { jobId: 'kin-heavy' });
    expect(r2.featuresWritten).toBe(12);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c.bytes <= KINESIS_MAX_BATCH_BYTES)).toBe(true);
  });

  test('a missing stream is a clear error', async () => {
    const sink = new KinesisSink({ client: stack.clients.kinesis, stream: 'no-such-stream' });
    await expect(sink.write(() => [], { jobId: 'j' })).rejects.toThrow(/no-such-stream.*does not exist/);
  });
});

describe('running sinks', () => {
  test('every sink is attempted and each gets an outcome', async () => {
    const list = features(3);
    const path = join(dir, 'all.geojson');
    const sinks = sinksForOutputs(
      [
        { type: 'S3', bucket: 'missing-bucket', prefix: 'x/' },
        { type: 'S3', bucket: stack.names.bucket, prefix: 'all/' },
        { type: 'Kinesis', stream: stack.names.stream, batchSize: 1000 },
        { type: 'File', path },
      ],
      { s3: () => stack.clients.s3, kinesis: () => stack.clients.kinesis },
      LOCAL_RUN_PATHS.fileOutputs,
    );
    const outcomes = await writeToSinks(sinks, () => slowly(list), { jobId: 'all-1' });
    expect(outcomes.map((o) => [o.type, o.ok, o.featuresWritten])).toEqual([
      ['S3', false, 0],
      ['S3', true, 3],
      ['Kinesis', true, 3],
      ['File', true, 3],
    ]);
    expect(outcomes[0].error).toMatch(/missing-bucket/);
    expect(outputsStatus(outcomes)).toBe('FAILED'); // a sink that wrote nothing fails the job's outputs
    expect(await s3Text('all/all-1.geojson')).toBe(await readFile(path, 'utf8'));
    expect(() => sinksForOutputs([], { s3: () => stack.clients.s3, kinesis: () => stack.clients.kinesis }, LOCAL_RUN_PATHS.fileOutputs)).toThrow(/no outputs/);
  });

  test('the file sink takes a synchronous source directly', async () => {
    const path = join(dir, 'sync.geojson');
    const result = await new FileSink(path).write(() => features(2), { jobId: 'x', extra: { a: 1 } });
    expect(result).toEqual({ featuresWritten: 2, location: path });
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ type: 'FeatureCollection', a: 1 });
  });
});
