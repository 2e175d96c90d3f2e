/**
 * The end of an image: read its features back from the feature table, de-duplicate them with the request's
 * post-processing, finalise them and write every requested output. Two streaming passes so the whole feature set
 * is never in memory: pass 1 keeps only what distillation needs (bounds, label, score) and where each feature is
 * stored; after distillation, every sink reads its own pass 2, which re-reads the table and yields only the kept
 * features, finalised. The S3 sink uploads multipart from that stream and the Kinesis sink sends it in batches.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ImageRequest } from '../api/image-request.js';
import { requestDistillation, requestOutputs } from '../api/image-request.js';
import type { Feature } from '../features/geojson.js';
import { imageBoundsOf, topClass } from '../features/refine.js';
import { applyDecayedScore, finalizeFeature } from '../features/output.js';
import type { PackedDetections } from '../selection/index.js';
import { distillOffThread } from '../selection/off-thread.js';
import { sinksForOutputs } from '../sinks/sink-factory.js';
import { outputsStatus, writeToSinks, type OutputsStatus, type Sink, type SinkOutcome } from '../sinks/sink.js';
import { aggregateOnce, AggregationLeaseLostError, type AggregationLease } from './region-completion.js';
import type { JobItem } from '../state/job-table.js';
import type { ServiceContext } from './context.js';
import { planOf, tileIdOf, type TilingSpec } from './region-request.js';
import { allTiles } from '../tiling/index.js';
import { FEATURE_SHARDS, featureShard } from '../state/feature-table.js';
import { releaseImage } from './throttling.js';
import { outstandingDone } from './outstanding-jobs.js';
import type { RegionItem } from '../state/region-table.js';
import { combineTileFailures, describeTileFailures, storedTileFailures, type TileFailureSummary } from '../state/tile-failures.js';

/** Job-item attributes (beyond OSML's) that let any container aggregate the image without opening it. */
export interface StoredJobSpec {
  request: ImageRequest;
  tiling: TilingSpec;
  /** The request's featureProperties plus OSML's sourceMetadata entry for NITF inputs. */
  featureProperties: Record<string, unknown>[];
  inputFormat?: string;
}

export function storedJobSpec(job: JobItem): StoredJobSpec {
  const parse = <T>(name: string): T => {
    const v = job[name];
    if (typeof v !== 'string') throw new Error(`job ${job.image_id} has no ${name} attribute: it was not started by tessera serve`);
    return JSON.parse(v) as T;
  };
  return {
    request: parse<ImageRequest>('image_request'),
    tiling: parse<TilingSpec>('tiling'),
    featureProperties: parse<Record<string, unknown>[]>('feature_properties'),
    ...(typeof job.input_format === 'string' ? { inputFormat: job.input_format } : {}),
  };
}

export interface AggregationResult {
  outputs: OutputsStatus;
  message: string;
  outcomes: SinkOutcome[];
  featuresStored: number;
  featuresKept: number;
}

/**
 * Why the image's tiles failed, from its regions' summaries (tile-failures.ts), and how many succeeded; undefined
 * when no region had a failure (or none of their items is left).
 */
export async function imageTileFailures(ctx: Pick<ServiceContext, 'regions'>, job: JobItem): Promise<{ summary: TileFailureSummary; succeeded: number } | undefined> {
  if (job.region_error === 0) return undefined;
  const items: RegionItem[] = [];
  const ids = job.completed_region_ids;
  for (let i = 0; i < ids.length; i += 8) {
    const batch = await Promise.all(ids.slice(i, i + 8).map((id) => ctx.regions.get(job.image_id, id)));
    for (const item of batch) if (item) items.push(item);
  }
  if (items.length === 0) return undefined;
  const summaries = items.map((r): TileFailureSummary => {
    const stored = storedTileFailures(r);
    if (stored) return stored;
    // A region item written before summaries: its counts, and its message when it failed as a whole.
    const failed = r.failed_tile_count ?? 0;
    return { failed, total: r.total_tiles ?? 0, reasons: r.message && failed ? [{ reason: r.message, count: failed, tile: `region ${r.region_id}` }] : [] };
  });
  return { summary: combineTileFailures(summaries), succeeded: items.reduce((n, r) => n + (r.succeeded_tile_count ?? r.succeeded_tile_ids.length), 0) };
}

/** A sink's outcome as recorded on the job item: at most 20 feature errors, with how many there were. */
export type RecordedSinkOutcome = SinkOutcome & { featureErrorCount?: number };

/** The job attribute that records the outcome of output `index` (the request's outputs, in order). */
export const sinkOutcomeAttribute = (index: number): string => `output_outcome_${index}`;

function compactOutcome(o: RecordedSinkOutcome): RecordedSinkOutcome {
  const { featureErrors, featureErrorCount, ...rest } = o;
  return featureErrors ? { ...rest, featureErrors: featureErrors.slice(0, 20), featureErrorCount: featureErrorCount ?? featureErrors.length } : rest;
}

/** The outcome recorded for output `index` by an earlier run of this job's aggregation, if it was this sink's. */
function recordedOutcome(job: JobItem, index: number, sink: Sink): RecordedSinkOutcome | undefined {
  const stored = job[sinkOutcomeAttribute(index)];
  if (typeof stored !== 'string') return undefined;
  const outcome = JSON.parse(stored) as RecordedSinkOutcome;
  return outcome.type === sink.type && outcome.target === sink.target ? outcome : undefined;
}

/**
 * Pass 1 + distillation + sinks for one job, under the aggregation lease. When tiles failed, the message
 * starts with why (imageTileFailures); when no tile of the image succeeded nothing is written at all (an empty
 * output would look like an image without detections): the job is FAILED, its message says so, as `tessera run`
 * writes nothing then.
 *
 * Each output is written once per job: before a sink writes, the lease is renewed (an aggregator that lost it stops
 * there); right after, its outcome is recorded on the job item (`output_outcome_<i>`, a conditional update that
 * holds only under the lease). A re-run of the aggregation (the step after the sinks failed, the container died)
 * takes the recorded outcome instead of writing that output again: Kinesis would otherwise hold every record twice.
 * A sink that failed is not tried again either: its outcome is the job's, as on the first run.
 */
export async function aggregateFeatures(ctx: ServiceContext, job: JobItem, lease?: AggregationLease): Promise<AggregationResult> {
  const spec = storedJobSpec(job);
  const { request } = spec;
  const imageId = job.image_id;
  const plan = planOf(spec.tiling);
  const distillation = requestDistillation(request);

  // Resolved first, even when nothing will be written: a local run's observer decides there whether it stopped early.
  const sinks = ctx.observer?.sinksFor?.(request, job) ?? sinksForOutputs(requestOutputs(request), ctx.sinkClients, ctx.config.paths.fileOutputs);
  const failures = await imageTileFailures(ctx, job);
  if (failures && failures.summary.total > 0 && failures.succeeded === 0) {
    return { outputs: 'FAILED', message: `${describeTileFailures(failures.summary)}; no output written`, outcomes: [], featuresStored: 0, featuresKept: 0 };
  }

  // Pass 1: compact detections (typed arrays) and where each feature is stored (item index, index within the item).
  const t1 = performance.now();
  const pass1 = new CompactDetections();
  const itemIndex = new Map<string, number>();
  const itemShards: number[] = [];
  // Only the shards the plan's tiles hash to can hold the image's features (all 50 for any sizeable image).
  const planShards = new Set(allTiles(plan).map((t) => featureShard(tileIdOf(t))));
  for await (const item of ctx.features.itemsOfImage(imageId, 8, planShards.size < FEATURE_SHARDS ? planShards : undefined)) {
    const idx = itemIndex.size;
    itemIndex.set(item.rangeKey, idx);
    itemShards.push(featureShard(item.tileId));
    item.features.forEach((json, pos) => {
      const f = JSON.parse(json) as Feature;
      const { label, score } = topClass(f);
      pass1.push(imageBoundsOf(f) ?? [0, 0, 0, 0], label, score, idx, pos);
    });
  }
  ctx.metrics.record('FeatureAggregation', { duration: (performance.now() - t1) / 1000, invocations: 1 }, {}, { imageId });

  const t2 = performance.now();
  // Off the main thread for large sets: it keeps answering signals, heartbeats and health checks meanwhile.
  const { keep, scores } = await distillOffThread(pass1.packed(), plan, distillation);
  // kept[item] = position → final score
  const kept = new Map<number, Map<number, number>>();
  const keptShards = new Set<number>();
  for (let k = 0; k < keep.length; k++) {
    const i = keep[k];
    const item = pass1.itemOf[i];
    keptShards.add(itemShards[item]);
    let m = kept.get(item);
    if (!m) kept.set(item, (m = new Map()));
    m.set(pass1.posOf[i], scores[k]);
  }
  const featuresStored = pass1.count;
  const featuresKept = keep.length;
  ctx.metrics.record('FeatureSelection', { duration: (performance.now() - t2) / 1000, invocations: 1 }, {}, { imageId });

  const jobId = request.jobId;
  const softNms = distillation.algorithm === 'SOFT_NMS';
  // Where each feature of a pass came from (every pass yields the same order), so a sink's feature error can name its tile.
  const tiles = new TileOfFeature();
  // Pass 2, once per sink: the kept features, finalised as `tessera run` finalises them.
  const source = async function* (): AsyncGenerator<Feature> {
    tiles.reset();
    for await (const item of ctx.features.itemsOfImage(imageId, 8, keptShards)) {
      const idx = itemIndex.get(item.rangeKey);
      const keptHere = idx === undefined ? undefined : kept.get(idx);
      if (!keptHere) continue;
      for (let pos = 0; pos < item.features.length; pos++) {
        const score = keptHere.get(pos);
        if (score === undefined) continue;
        const f = JSON.parse(item.features[pos]) as Feature;
        if (softNms) applyDecayedScore(f, score);
        tiles.next(item.tileId);
        yield finalizeFeature(f, jobId, spec.featureProperties);
      }
    }
  };

  const t3 = performance.now();
  const outcomes: RecordedSinkOutcome[] = [];
  for (const [index, sink] of sinks.entries()) {
    const recorded = recordedOutcome(job, index, sink);
    if (recorded) {
      ctx.logger.info({ image_id: imageId, sink: sink.target, ok: recorded.ok }, 'output already written by an earlier run of this aggregation: not written again');
      outcomes.push(recorded);
      continue;
    }
    await lease?.hold();
    const [written] = await writeToSinks([sink], source, { jobId, featuresStored }, ctx.logger);
    const outcome = written.featureErrors ? { ...written, featureErrors: written.featureErrors.map((e) => ({ ...e, tile: tiles.of(e.index) })) } : written;
    await lease?.record({ [sinkOutcomeAttribute(index)]: JSON.stringify(compactOutcome(outcome)) });
    outcomes.push(outcome);
  }
  const outputs = outputsStatus(outcomes);
  // {Operation} only, as OSML's sink_features.
  ctx.metrics.record('FeatureDissemination', { duration: (performance.now() - t3) / 1000, invocations: 1, errors: outputs === 'SUCCESS' ? 0 : 1 }, {}, { imageId });

  const features = `${featuresKept} features (${featuresStored} before de-duplication); outputs: ${outcomes.map(describeOutcome).join('; ')}`;
  const message = failures ? `${describeTileFailures(failures.summary)}; ${features}` : features;
  await ctx.jobs.update(imageId, {
    feature_count: featuresKept,
    feature_count_before_dedup: featuresStored,
    output_outcomes: JSON.stringify(outcomes.map(compactOutcome)),
  });
  return { outputs, message, outcomes, featuresStored, featuresKept };
}

/** One sink in the job's message: `Kinesis kinesis:s PARTIAL (8 written, 1 not: feature f3 of tile ...: why)`. */
function describeOutcome(o: RecordedSinkOutcome): string {
  const where = `${o.type} ${o.location ?? o.target}`;
  if (o.ok) return `${where} ok (${o.featuresWritten})`;
  if (o.error !== undefined || !o.featureErrors?.length) return `${where} FAILED (${o.error ?? 'no features written'})`;
  const errors = o.featureErrors;
  const count = o.featureErrorCount ?? errors.length;
  const named = errors.slice(0, 3).map((e) => `feature ${e.id ?? `#${e.index}`}${e.tile ? ` of tile ${e.tile}` : ''}: ${e.reason}`);
  const more = count > named.length ? `; and ${count - named.length} more` : '';
  return `${where} ${o.featuresWritten ? 'PARTIAL' : 'FAILED'} (${o.featuresWritten} written, ${count} not: ${named.join('; ')}${more})`;
}

/**
 * The tile of the n-th feature of a pass, one entry per run of features from the same tile. Every pass yields the
 * same features in the same order, so a pass only extends what earlier ones recorded (a sink may stop early).
 */
class TileOfFeature {
  private readonly starts: number[] = [];
  private readonly ids: string[] = [];
  private recorded = 0;
  private position = 0;

  /** A new pass starts. */
  reset(): void {
    this.position = 0;
  }

  next(tileId: string): void {
    if (this.position++ < this.recorded) return;
    if (this.ids[this.ids.length - 1] !== tileId) {
      this.starts.push(this.recorded);
      this.ids.push(tileId);
    }
    this.recorded++;
  }

  of(index: number): string | undefined {
    if (index < 0 || index >= this.recorded) return undefined;
    let lo = 0, hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.ids[lo];
  }
}

/** What a region delivery does after trying to aggregate: nothing more, or come back after `retryAfterSeconds`. */
export interface AggregateImageOutcome {
  aggregated: boolean;
  /** Another container holds the aggregation lease: keep the message and look again once the lease has run out. */
  retryAfterSeconds?: number;
}

/**
 * Aggregates a complete image at most once across containers and publishes its final status. When another
 * container holds the lease, asks for the message back once that lease has run out: if that container died, the
 * lease expires and this message is the one left to aggregate the image.
 */
export async function aggregateImage(ctx: ServiceContext, imageId: string, options: { finalAttempt?: boolean } = {}): Promise<AggregateImageOutcome> {
  const started = performance.now();
  let outcome: Awaited<ReturnType<typeof aggregateOnce>>;
  try {
    outcome = await aggregateOnce(ctx.jobs, imageId, aggregationOwner(ctx), ctx.config.aggregationLeaseMs, async (j, lease) => {
      const result = await aggregateFeatures(ctx, j, lease);
      return { outputs: result.outputs, message: result.message };
    });
  } catch (err) {
    // This aggregation ran past its lease and another delivery took over: not a failure of the job. Looked at again
    // once the new owner's lease has run out (in case it died), as when the lease was taken to begin with.
    if (err instanceof AggregationLeaseLostError) {
      ctx.logger.warn({ image_id: imageId }, err.message);
      const job = await ctx.jobs.get(imageId);
      if (!job || job.end_time !== undefined) {
        if (job) await publishImageEnd(ctx, job);
        return { aggregated: false };
      }
      return { aggregated: false, retryAfterSeconds: retryAfterLease((job.aggregation_lease_until ?? 0) - Date.now()) };
    }
    // Worth another delivery (the tables did not answer ...), unless this was the last: then the job ends FAILED.
    if (!options.finalAttempt) throw err;
    const reason = `aggregation failed: ${(err as Error).message}`;
    ctx.logger.error({ image_id: imageId, reason }, 'image failed');
    const { job } = await ctx.jobs.end(imageId, 'FAILED', reason);
    await publishImageEnd(ctx, job);
    return { aggregated: false };
  }
  if (!outcome.ran) {
    if (outcome.ended) {
      // Whichever delivery finds the job ended makes good what its end still owes (a no-op once published): the
      // delivery that ended it may have died, or run out of deliveries, before publishing.
      ctx.logger.info({ image_id: imageId }, 'image complete: already aggregated');
      if (outcome.job) await publishImageEnd(ctx, outcome.job);
      return { aggregated: false };
    }
    const retryAfterSeconds = retryAfterLease(outcome.leaseRemainingMs);
    ctx.logger.info({ image_id: imageId, retry_seconds: retryAfterSeconds }, 'image complete: another container holds the aggregation lease; looking again when it runs out');
    return { aggregated: false, retryAfterSeconds };
  }
  const { job } = outcome;
  ctx.logger.info({ image_id: imageId, job_id: job.job_id, status: job.image_status, seconds: ((performance.now() - started) / 1000).toFixed(2), message: job.message }, 'image finished');
  if (job.image_status === 'FAILED') ctx.logger.error({ image_id: imageId, job_id: job.job_id, reason: job.message }, 'image failed');
  await publishImageEnd(ctx, job);
  return { aggregated: true };
}

/**
 * The lease owner of one aggregation attempt: the process plus a suffix of its own. A lease is exclusive between
 * owners only, so with one owner per process two deliveries in the same container (TESSERA_CONCURRENT_REGIONS > 1,
 * or a message redelivered while its first delivery still aggregates) would both hold it and both aggregate.
 */
export function aggregationOwner(ctx: Pick<ServiceContext, 'owner'>): string {
  return `${ctx.owner}#${randomUUID().slice(0, 8)}`;
}

/** SQS's longest visibility timeout. */
const MAX_VISIBILITY_SECONDS = 43_200;

/** When to look again (s) at an image whose aggregation lease, another's, runs `remainingMs` more. */
function retryAfterLease(remainingMs: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(Math.max(0, remainingMs) / 1000) + 1);
}

/** The final status could not be published: the message is kept, and its redelivery publishes again. */
export class StatusNotPublishedError extends Error {
  constructor(what: string) {
    super(`${what} was not published to SNS; the message is kept to publish it again`);
    this.name = 'StatusNotPublishedError';
  }
}

/**
 * What an ended job still owes, done until recorded: the final image status on SNS, the ImageProcessing metric and
 * the endpoint capacity release, then `final_status_published_time`. Every delivery that finds the job ended calls
 * this, so a container that died between the end and the publish is made good by the redelivery (a status may be
 * published twice in that window, never lost). Throws StatusNotPublishedError when SNS did not take the status.
 */
export async function publishImageEnd(ctx: ServiceContext, job: JobItem): Promise<void> {
  if (job.final_status_published_time !== undefined) return;
  const status = job.image_status ?? 'FAILED';
  // What went wrong, for PARTIAL as for FAILED (a SUCCESS keeps OSML's "Completed image processing").
  const reason = status !== 'SUCCESS' && job.message ? job.message : undefined;
  const published = await ctx.status.publishImageStatus({ status, jobId: job.job_id ?? '', imageId: job.image_id, processingDurationSeconds: job.processing_duration, ...(reason ? { reason } : {}) });
  if (!published && ctx.status.publishes('image')) throw new StatusNotPublishedError(`the final status ${status} of ${job.image_id}`);
  ctx.metrics.record(
    'ImageProcessing',
    { duration: job.processing_duration, invocations: 1, errors: status === 'SUCCESS' ? 0 : 1 },
    { modelName: job.model_name, ...(typeof job.input_format === 'string' ? { inputFormat: job.input_format } : {}) },
    { jobId: job.job_id, imageId: job.image_id },
  );
  // The job's load leaves its endpoint (throttling.ts), its outstanding record goes; neither fails the job.
  await releaseImage(ctx, job);
  await outstandingDone(ctx, job);
  await ctx.jobs.update(job.image_id, { final_status_published_time: Date.now() });
}

/** Growable typed arrays: 44 bytes per feature, whatever the size of its GeoJSON. */
class CompactDetections {
  count = 0;
  private boxes = new Float64Array(4 * 1024);
  private scores = new Float64Array(1024);
  private labels = new Int32Array(1024);
  itemOf = new Int32Array(1024);
  posOf = new Int32Array(1024);
  private readonly labelIds = new Map<string, number>();
  private readonly labelNames: string[] = [];

  push(bounds: readonly number[], label: string, score: number, item: number, pos: number): void {
    if (this.count === this.scores.length) this.grow();
    const i = this.count++;
    for (let k = 0; k < 4; k++) this.boxes[i * 4 + k] = bounds[k];
    this.scores[i] = score;
    let id = this.labelIds.get(label);
    if (id === undefined) {
      id = this.labelNames.length;
      this.labelIds.set(label, id);
      this.labelNames.push(label);
    }
    this.labels[i] = id;
    this.itemOf[i] = item;
    this.posOf[i] = pos;
  }

  packed(): PackedDetections {
    return { count: this.count, boxes: this.boxes.subarray(0, this.count * 4), scores: this.scores.subarray(0, this.count), labels: this.labels.subarray(0, this.count), labelNames: this.labelNames };
  }

  private grow(): void {
    const n = this.scores.length * 2;
    const g = <T extends Float64Array | Int32Array>(a: T, size: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.boxes = g(this.boxes, n * 4);
    this.scores = g(this.scores, n);
    this.labels = g(this.labels, n);
    this.itemOf = g(this.itemOf, n);
    this.posOf = g(this.posOf, n);
  }
}
