// The end of a job against the local S3 and Kinesis (s3rver, kinesalite): a feature whose Kinesis record would pass
// 1 MiB is skipped by that sink alone, named with its tile and size in the job's message, every other output gets
// everything, and the job ends PARTIAL instead of FAILED; a sink that fails as a whole still fails the job.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ImageRequest } from '../src/api/image-request.js';
import { memoryServiceContext } from './helpers/service-context.js';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import type { Feature } from '../src/features/geojson.js';
import { Metrics } from '../src/metrics/emf.js';
import { aggregateImage } from '../src/service/aggregation.js';
import type { ServiceContext } from '../src/service/context.js';
import { tileIdOf, type TilingSpec } from '../src/service/region-request.js';
import { KINESIS_MAX_RECORD_BYTES } from '../src/sinks/kinesis-sink.js';
import { s3ObjectKey } from '../src/sinks/s3-sink.js';
import { StatusPublisher } from '../src/status/sns-status.js';
import { silentLogger } from '../src/aws/logger.js';
import { planTiling, allTiles } from '../src/tiling/index.js';
import { featuresOf, kinesisRecords, readS3Text } from './helpers/serve.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack();
});
afterAll(async () => stack?.stop());

// One region of three 256-pixel tiles, one feature in each.
const tiling: TilingSpec = { strategy: 'variable-overlap', bounds: { x: 0, y: 0, width: 768, height: 256 }, tileSize: { width: 256, height: 256 }, overlap: { width: 0, height: 0 }, regionSize: { width: 1024, height: 1024 } };
const tiles = allTiles(planTiling(tiling));
const idsOf = (features: unknown[]) => features.map((f) => (f as { id: string }).id).sort();

function context(): ServiceContext {
  return memoryServiceContext({
    status: new StatusPublisher({ logger: silentLogger }),
    metrics: new Metrics({ disabled: true }),
    logger: { ...silentLogger, debug: () => undefined },
    sinkClients: { s3: () => stack.clients.s3, kinesis: () => stack.clients.kinesis },
  }, 1024);
}

/** A job whose only region succeeded, with one feature per tile stored; `pad` characters in the second one. */
async function finishedJob(ctx: ServiceContext, jobId: string, outputs: ImageRequest['outputs'], featureProperties: Record<string, unknown>[], pad: number) {
  const imageId = `${jobId}:img.tif`;
  const request = { jobId, imageUrls: ['img.tif'], outputs, imageProcessor: { name: 'http://127.0.0.1:9/invocations', type: 'HTTP_ENDPOINT' }, featureProperties };
  await ctx.jobs.start({ image_id: imageId, job_id: jobId, image_url: 'img.tif', model_name: request.imageProcessor.name, model_invoke_mode: 'HTTP_ENDPOINT' });
  await ctx.jobs.update(imageId, { region_count: 1, image_status: 'IN_PROGRESS', image_request: JSON.stringify(request), tiling: JSON.stringify(tiling), feature_properties: JSON.stringify(featureProperties) });
  for (const [i, t] of tiles.entries()) {
    const feature = { type: 'Feature', id: `${jobId}-f${i}`, geometry: null, properties: { imageBBox: [t.x + 100, t.y + 100, t.x + 150, t.y + 150], featureClasses: [{ iri: 'thing', score: 0.9 }], ...(i === 1 ? { pad: 'x'.repeat(pad) } : {}) } } as Feature;
    await ctx.features.writeTileFeatures(imageId, tileIdOf(t), [feature]);
  }
  await ctx.jobs.completeRegion(imageId, 'r0', 'success');
  return imageId;
}

test('a feature over Kinesis\'s 1 MiB record limit: skipped there and named, every other output complete, the job PARTIAL', async () => {
  const ctx = context();
  const jobId = 'job-big-feature';
  const outputs = [{ type: 'S3' as const, bucket: stack.names.bucket, prefix: 'big/' }, { type: 'Kinesis' as const, stream: stack.names.stream }];
  // Every feature carries the request's 700 KB of featureProperties; with 380 KB of its own only the second passes 1 MiB.
  const imageId = await finishedJob(ctx, jobId, outputs, [{ notes: 'n'.repeat(700_000) }], 380_000);
  expect(await aggregateImage(ctx, imageId)).toEqual({ aggregated: true });

  const job = (await ctx.jobs.get(imageId))!;
  expect(job.image_status).toBe('PARTIAL');
  const s3 = featuresOf(await readS3Text(stack, stack.names.bucket, s3ObjectKey('big/', jobId)));
  expect(idsOf(s3)).toEqual([`${jobId}-f0`, `${jobId}-f1`, `${jobId}-f2`]);
  const records = (await kinesisRecords(stack, stack.names.stream)).filter((r) => r.partitionKey === jobId);
  expect(records.map((r) => JSON.parse(r.data).features[0].id).sort()).toEqual([`${jobId}-f0`, `${jobId}-f2`]);

  // The size Kinesis would have been sent: the one-feature collection as S3 holds the feature, plus the partition key.
  const big = s3.find((f) => idsOf([f])[0] === `${jobId}-f1`)!;
  const bytes = Buffer.byteLength(`{"type": "FeatureCollection", "features": [${JSON.stringify(big)}]}`) + Buffer.byteLength(jobId);
  expect(bytes).toBeGreaterThan(KINESIS_MAX_RECORD_BYTES);
  const why = `feature record is ${bytes} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte record limit`;
  expect(job.message).toBe(`3 features (3 before de-duplication); outputs: S3 s3://${stack.names.bucket}/big/${jobId}.geojson ok (3); Kinesis kinesis:${stack.names.stream} PARTIAL (2 written, 1 not: feature ${jobId}-f1 of tile ${tileIdOf(tiles[1])}: ${why})`);
  const outcomes = JSON.parse(job.output_outcomes as string);
  expect(outcomes[1]).toMatchObject({ type: 'Kinesis', ok: false, featuresWritten: 2, featureErrorCount: 1, featureErrors: [{ id: `${jobId}-f1`, tile: tileIdOf(tiles[1]), reason: why }] });
});

test('a sink that fails as a whole still makes the job FAILED, the other outputs written', async () => {
  const ctx = context();
  const jobId = 'job-missing-stream';
  const outputs = [{ type: 'S3' as const, bucket: stack.names.bucket, prefix: 'missing/' }, { type: 'Kinesis' as const, stream: 'no-such-stream' }];
  const imageId = await finishedJob(ctx, jobId, outputs, [], 0);
  await aggregateImage(ctx, imageId);
  const job = (await ctx.jobs.get(imageId))!;
  expect(job.image_status).toBe('FAILED');
  expect(job.message).toContain('Kinesis kinesis:no-such-stream FAILED (Kinesis output stream no-such-stream is not usable (it does not exist))');
  expect(featuresOf(await readS3Text(stack, stack.names.bucket, s3ObjectKey('missing/', jobId)))).toHaveLength(3);
});
