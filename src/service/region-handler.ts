/**
 * One region of an image, in whichever container receives it (and the first region of an image in the container
 * that took the image request). Safe to run again for the same region at any point:
 * - tiles already recorded as succeeded are not sent to the model again;
 * - a tile's features are stored under keys derived from the tile, so re-running it replaces them;
 * - a tile is recorded as succeeded only after its features are stored;
 * - the region is completed and counted toward its image once (finishRegion), and the image aggregated at most once
 *   at a time (aggregateOnce), by whichever delivery finds it complete and not ended;
 * - the region's and the image's final statuses are published until marked as published, so a redelivery
 *   publishes what a container that died did not.
 */
import { performance } from 'node:perf_hooks';
import { describeRaster, RasterInputError, type RasterInfo } from '../raster/raster-source.js';
import { processTiles } from '../pipeline/process-tiles.js';
import { workerConfigFor, JobInputError, type PreparedImage } from '../pipeline/run-image.js';
import type { WorkerConfig } from '../pipeline/tile-task.js';
import { tilesOfRegion, type TilingPlan, type Window } from '../tiling/index.js';
import { FeatureTooLargeError } from '../state/feature-table.js';
import { storedTileFailures, TileFailureTally, type TileFailureReason } from '../state/tile-failures.js';
import { isRegionFinal, type PixelBounds, type RegionItem, type TileRecord } from '../state/region-table.js';
import type { RegionStore } from '../state/stores.js';
import type { JobItem } from '../state/job-table.js';
import { RoiError } from '../geolocation/roi.js';
import { errorDetails } from '../aws/logger.js';
import { imageReadAccess } from '../aws/image-read-role.js';
import { sendToDeadLetterQueue, type QueueMessage } from '../queues/sqs-queue.js';
import type { MessageContext, MessageDisposition } from '../queues/message-worker.js';
import type { ServiceContext } from './context.js';
import { finishRegion } from './region-completion.js';
import { recordTileFailed, recordTileSucceeded } from './tile-metrics.js';
import { outstandingRegionDone } from './outstanding-jobs.js';
import { aggregateImage, publishImageEnd, StatusNotPublishedError } from './aggregation.js';
import { detectorFor, ImageInputError } from './image-job.js';
import { fromBounds, InvalidRegionRequestError, parseRegionRequest, planOf, regionJobMismatch, tileIdOf, tilingSpecOf, type RegionRequest } from './region-request.js';

/** Everything needed to run a region's tiles. */
export interface RegionWork {
  request: RegionRequest;
  info: RasterInfo;
  workerConfig: WorkerConfig;
  plan: TilingPlan;
  region: Window;
}

/** Input problems: retrying cannot help, the failure is recorded. */
export function isInputError(err: unknown): boolean {
  return err instanceof JobInputError || err instanceof RasterInputError || err instanceof RoiError || err instanceof ImageInputError;
}


/** Why a message's work is recorded as failed: the error itself, or that its deliveries ran out (retried ones only). */
export function failureReason(err: unknown, receiveCount: number, permanent = false): string {
  const error = errorDetails(err).error;
  return permanent || receiveCount <= 1 ? error : `gave up after ${receiveCount} deliveries: ${error}`;
}

const toPixelBounds = (w: Window): PixelBounds => [[w.y, w.x], [w.width, w.height]];

/** Opens (or recalls) the image header and rebuilds what a region needs from its message. */
export async function regionWorkFromRequest(ctx: ServiceContext, request: RegionRequest): Promise<RegionWork> {
  // Keyed by job as well: the object behind a URL may be replaced between jobs, never within one.
  const key = `${request.image_id}#${request.image_path}#${request.image_segment ?? 0}`;
  let info = ctx.rasterInfo.get(key);
  if (!info) {
    const readCredentials = ctx.clients ? imageReadAccess(ctx.clients, request.image_read_role).credentials : undefined;
    info = await describeRaster(request.image_path, { ...(request.image_segment !== undefined ? { imageSegment: request.image_segment } : {}), readCredentials, drivers: ctx.config.gdalDrivers });
    if (ctx.rasterInfo.size >= 16) ctx.rasterInfo.delete(ctx.rasterInfo.keys().next().value!);
    ctx.rasterInfo.set(key, info);
  }
  // The image handler decided whether the georeference is usable; follow it rather than deciding again.
  const regionInfo: RasterInfo = request.geolocate ? info : { ...info, georeference: null };
  const c = request.pixel_conversion;
  if (c.bands.some((b) => b >= info.bandCount)) throw new RasterInputError(request.image_url, `region asks for band ${Math.max(...c.bands) + 1} but the image has ${info.bandCount}`);
  const plan = planOf(tilingSpecOf(request));
  const prepared: PreparedImage = {
    info: regionInfo,
    plan,
    sensorModel: null,
    conversion: { bandCount: info.bandCount, dataType: info.dataType, bands: c.bands, outputType: c.output_type, ...(c.ranges ? { ranges: c.ranges } : {}) },
    rangeAdjustment: c.range_adjustment,
    warnings: [],
  };
  const detector = detectorFor(request.model_invoke_mode, request.model_name, request.model_endpoint_parameters, {
    ...ctx.config.model,
    aws: ctx.config.aws,
    ...(request.model_invocation_role ? { assumedRole: request.model_invocation_role } : {}),
  });
  const workerConfig = workerConfigFor({ detector, encoding: { format: request.tile_format, compression: request.tile_compression, quality: request.tile_quality, maxPayloadBytes: request.max_payload_bytes } }, prepared);
  // One of the plan's regions: handleRegionMessage dead-letters any other before this (regionJobMismatch).
  const region = fromBounds(request.region_bounds);
  return { request, info: regionInfo, workerConfig, plan, region };
}

/** RegionProcessing's dimensions {ModelName, InputFormat}: the format from the region message when the image was not opened here. */
function regionDimensions(r: RegionRequest, format?: string): { modelName: string; inputFormat?: string } {
  const inputFormat = format ?? r.image_extension;
  return { modelName: r.model_name, ...(inputFormat ? { inputFormat } : {}) };
}

/** Records tile outcomes in batches while tiles keep finishing (one conditional update per batch, not per tile). */
class TileRecorder {
  private succeeded: TileRecord[] = [];
  private failed: TileRecord[] = [];
  private running: Promise<void> | undefined;
  private error: unknown;

  constructor(private readonly regions: RegionStore, private readonly imageId: string, private readonly regionId: string) {}

  add(state: 'succeeded' | 'failed', tile: TileRecord): void {
    (state === 'succeeded' ? this.succeeded : this.failed).push(tile);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.succeeded.length || this.failed.length) {
      const succeeded = this.succeeded.splice(0);
      const failed = this.failed.splice(0);
      try {
        await this.regions.recordTiles(this.imageId, this.regionId, { succeeded, failed });
      } catch (err) {
        this.error ??= err;
      }
    }
    this.running = undefined;
  }

  async close(): Promise<void> {
    while (this.running) await this.running;
    if (this.error) throw this.error;
  }
}

export interface RegionOutcome {
  region: RegionItem;
  aggregated: boolean;
  /** The image is complete but another container holds its aggregation lease: hand the message back for this long. */
  retryAfterSeconds?: number;
}

/**
 * Runs a region (skipping tiles already done), then completes it, publishes its status and aggregates the image
 * when this region made it complete. Throws, without completing the region, on anything worth a retry
 * (feature storage, the tables, an aborted delivery): the message is then redelivered and resumes.
 */
export async function processRegion(ctx: ServiceContext, work: RegionWork, signal?: AbortSignal, finalAttempt = false, delivery: RegionDelivery = {}): Promise<RegionOutcome> {
  const { request: r, info, region } = work;
  const log = { job_id: r.job_id, image_id: r.image_id, region_id: r.region_id };
  const started = performance.now();
  const { region: item, created } = await ctx.regions.start({
    image_id: r.image_id,
    region_id: r.region_id,
    job_id: r.job_id,
    region_bounds: r.region_bounds,
    tile_size: r.tile_size,
    tile_overlap: r.tile_overlap,
    tile_format: r.tile_format,
    tile_compression: r.tile_compression,
    ...(r.image_read_role ? { image_read_role: r.image_read_role } : {}),
    region_request: JSON.stringify(r),
  });
  delivery.regionStarted = true;
  const tiles = tilesOfRegion(work.plan, region);
  const dims = regionDimensions(r, info.format);
  let tally: TileFailureTally | undefined;
  if (isRegionFinal(item)) {
    ctx.logger.info({ ...log, status: item.region_status }, 'region already finished: only its bookkeeping is checked');
  } else {
    const done = new Set(item.succeeded_tile_ids);
    const todo = tiles.filter((t) => !done.has(tileIdOf(t)));
    ctx.logger.info({ ...log, tiles: tiles.length, skipped: tiles.length - todo.length, delivery: created ? 1 : item.region_retry_count + 1 }, 'region started');
    const recorder = new TileRecorder(ctx.regions, r.image_id, r.region_id);
    // Every tile not done before is tried again here, so this delivery's failures are the region's.
    const failures = (tally = new TileFailureTally());
    const storageErrors: unknown[] = [];
    let featureCount = 0;
    const s0 = performance.now();
    await processTiles({
      info,
      config: work.workerConfig,
      tiles: todo,
      pool: ctx.pool,
      resources: ctx.readResources,
      onResult: async (window, label, result, readMs) => {
        if (signal?.aborted) return;
        recordTileSucceeded(ctx.metrics, dims, result, readMs);
        try {
          await ctx.features.writeTileFeatures(r.image_id, label, result.features);
          featureCount += result.features.length;
          recorder.add('succeeded', { id: label, bounds: toPixelBounds(window) });
          ctx.observer?.tileSucceeded?.({ imageId: r.image_id, tile: label, features: result.features.length });
        } catch (err) {
          if (err instanceof FeatureTooLargeError) {
            recorder.add('failed', { id: label, bounds: toPixelBounds(window) });
            failures.add(label, errorDetails(err).error);
            ctx.logger.warn({ ...log, tile: label, ...errorDetails(err) }, 'tile failed');
            ctx.observer?.tileFailed?.({ imageId: r.image_id, tile: label, error: errorDetails(err).error });
          } else {
            storageErrors.push(err);
          }
        }
      },
      onFailure: (window, label, error, details) => {
        if (signal?.aborted) return;
        recordTileFailed(ctx.metrics, dims, details);
        ctx.logger.warn({ ...log, tile: label, error }, 'tile failed');
        recorder.add('failed', { id: label, bounds: toPixelBounds(window) });
        failures.add(label, error);
        ctx.observer?.tileFailed?.({ imageId: r.image_id, tile: label, error });
      },
      ...(ctx.observer?.stopReason ? { stopReason: () => ctx.observer!.stopReason!(r.image_id) } : {}),
    });
    await recorder.close();
    ctx.metrics.record('FeatureStorage', { duration: (performance.now() - s0) / 1000, invocations: 1, errors: storageErrors.length ? 1 : 0 }, {}, { imageId: r.image_id });
    if (signal?.aborted) throw signal.reason ?? new Error('region handling aborted');
    if (storageErrors.length) {
      throw new Error(`storing the features of ${storageErrors.length} tile(s) failed (${errorDetails(storageErrors[0]).error}); the region will resume from its recorded tiles`);
    }
    ctx.logger.info({ ...log, features: featureCount, seconds: ((performance.now() - started) / 1000).toFixed(2) }, 'region tiles done');
  }
  return finishAndReport(ctx, r, tiles, dims, started, signal, undefined, finalAttempt, tally?.top());
}

/** Completes the region (or records its failure), publishes its status until recorded, aggregates if the image is complete. */
async function finishAndReport(ctx: ServiceContext, r: RegionRequest, tiles: Window[], dims: { modelName: string; inputFormat?: string }, started: number, signal?: AbortSignal, failureMessage?: string, finalAttempt = false, tileFailures?: TileFailureReason[]): Promise<RegionOutcome> {
  const log = { job_id: r.job_id, image_id: r.image_id, region_id: r.region_id };
  const finish = await finishRegion(ctx.jobs, ctx.regions, r.image_id, r.region_id, tiles.length, failureMessage, tileFailures);
  const region = finish.region;
  if (finish.counted) {
    ctx.logger.info({ ...log, status: region.region_status, failed_tiles: region.failed_tile_count, regions_done: finish.job.completed_region_ids.length, region_count: finish.job.region_count, ...(region.region_status !== 'SUCCESS' && region.message ? { reason: region.message } : {}) }, 'region finished');
  }
  // Not only when counted here (a delivery may have died before it): appended once however often this runs.
  await outstandingRegionDone(ctx, r.model_name, r.job_id, r.region_id);
  // Not only when counted here: a delivery that counted the region may have died before publishing.
  const published = await publishRegionEnd(ctx, r, region, tiles, dims, finish.counted ? (performance.now() - started) / 1000 : undefined);
  let outcome: RegionOutcome = { region, aggregated: false };
  if (finish.shouldAggregate) {
    if (signal?.aborted) throw signal.reason ?? new Error('region handling aborted');
    outcome = { region, ...(await aggregateImage(ctx, r.image_id, { finalAttempt })) };
  }
  // After the aggregation, so an SNS outage does not hold the image back; the redelivery publishes the region again.
  if (!published) throw new StatusNotPublishedError(`the status of region ${r.region_id}`);
  return outcome;
}

/**
 * Publishes a final region's status and RegionProcessing metric unless already recorded as published, then
 * records it. False when SNS did not take it. `seconds`: this delivery's time (else the stored duration).
 */
async function publishRegionEnd(ctx: ServiceContext, r: RegionRequest, region: RegionItem, tiles: Window[], dims: { modelName: string; inputFormat?: string }, seconds?: number): Promise<boolean> {
  if (!isRegionFinal(region) || region.status_published_time !== undefined) return true;
  // A region failed as a whole (failRegion) carries the reason and names no tiles, as when it was failed; one whose
  // tiles failed names them, with the summary of why as the reason.
  const summary = storedTileFailures(region);
  const whole = region.region_status === 'FAILED' && region.message !== undefined && (summary === undefined || summary.regionFailed === true);
  const reason = whole || (summary && region.region_status !== 'SUCCESS') ? region.message : undefined;
  const succeeded = new Set(region.succeeded_tile_ids);
  const failedTiles = whole ? [] : tiles.filter((t) => !succeeded.has(tileIdOf(t))).map(toPixelBounds);
  const ok = await ctx.status.publishRegionStatus({
    status: region.region_status as 'SUCCESS' | 'PARTIAL' | 'FAILED',
    jobId: r.job_id,
    imageId: r.image_id,
    regionId: r.region_id,
    processingDurationMs: region.processing_duration,
    failedTiles,
    ...(reason ? { reason } : {}),
  });
  if (!ok && ctx.status.publishes('region')) return false;
  ctx.metrics.record('RegionProcessing', { duration: seconds ?? (region.processing_duration ?? 0) / 1000, invocations: 1, errors: region.region_status === 'SUCCESS' ? 0 : 1 }, dims, { jobId: r.job_id, imageId: r.image_id, regionId: r.region_id });
  await ctx.regions.markStatusPublished(r.image_id, r.region_id);
  return true;
}

/**
 * A region message for a job that has ended: nothing to run, but what the end owes may be missing if the
 * container that ended it (or finished this region) died first: this region's status, the job's final status.
 */
async function settleEndedJob(ctx: ServiceContext, r: RegionRequest, job: JobItem): Promise<void> {
  const region = await ctx.regions.get(r.image_id, r.region_id);
  if (region && isRegionFinal(region) && region.status_published_time === undefined) {
    let tiles: Window[] = [];
    try {
      tiles = tilesOfRegion(planOf(tilingSpecOf(r)), fromBounds(r.region_bounds));
    } catch {
      tiles = [];
    }
    if (!(await publishRegionEnd(ctx, r, region, tiles, regionDimensions(r)))) throw new StatusNotPublishedError(`the status of region ${r.region_id}`);
  }
  await publishImageEnd(ctx, job);
}

/**
 * What one delivery of a region has done so far: `regionStarted` once processRegion has started (or restarted) the
 * region item, which counts the delivery in `region_retry_count`; failRegion then does not start it again (a second
 * start would count the same delivery twice).
 */
export interface RegionDelivery {
  regionStarted?: boolean;
}

/** Records a region that cannot be processed (its image cannot be opened, or its deliveries ran out). */
export async function failRegion(ctx: ServiceContext, r: RegionRequest, reason: string, signal?: AbortSignal, finalAttempt = false, delivery: RegionDelivery = {}): Promise<RegionOutcome> {
  if (!delivery.regionStarted) await ctx.regions.start({ image_id: r.image_id, region_id: r.region_id, job_id: r.job_id, region_bounds: r.region_bounds, region_request: JSON.stringify(r) });
  ctx.logger.error({ job_id: r.job_id, image_id: r.image_id, region_id: r.region_id, reason }, 'region failed');
  let tiles: Window[] = [];
  try {
    tiles = tilesOfRegion(planOf(tilingSpecOf(r)), fromBounds(r.region_bounds));
  } catch {
    tiles = [];
  }
  return finishAndReport(ctx, r, tiles, regionDimensions(r), performance.now(), signal, reason, finalAttempt);
}

/**
 * A region message this service refuses (malformed, for a job that does not exist, or not matching its job) goes,
 * with the reason, to REGION_DLQ when it is set, else to IMAGE_DLQ: REGION_DLQ is Tessera's, so a deployment
 * configured with OSML's variables has only IMAGE_DLQ, and a refused message must land somewhere with its reason
 * rather than be deleted with a log line (what OSML does, reference §16). The `source_queue` attribute (the region
 * queue) tells such a message from the image requests there.
 */
async function deadLetterRegionMessage(ctx: ServiceContext, message: QueueMessage, reason: string): Promise<void> {
  await sendToDeadLetterQueue(ctx.regionDlq ?? ctx.imageDlq, message.body, reason, { sourceQueueUrl: ctx.config.queues.region });
}

/** The region-queue message handler. */
export async function handleRegionMessage(ctx: ServiceContext, message: QueueMessage, context: MessageContext): Promise<MessageDisposition | void> {
  const dlq = ctx.regionDlq ? 'REGION_DLQ' : 'IMAGE_DLQ';
  let request: RegionRequest;
  try {
    request = parseRegionRequest(message.body);
  } catch (err) {
    if (!(err instanceof InvalidRegionRequestError)) throw err;
    ctx.logger.error({ messageId: message.id, problems: err.problems, dead_letter_queue: dlq }, 'invalid region request: sent to the dead-letter queue');
    await deadLetterRegionMessage(ctx, message, err.message);
    return 'delete';
  }
  const log = { job_id: request.job_id, image_id: request.image_id, region_id: request.region_id };
  const job = await ctx.jobs.get(request.image_id);
  if (!job) {
    const reason = `job ${request.image_id} not found in ${ctx.config.tables.job} (expired, or never started)`;
    ctx.logger.error({ ...log, dead_letter_queue: dlq }, reason);
    await deadLetterRegionMessage(ctx, message, reason);
    return 'delete';
  }
  const mismatch = regionJobMismatch(request, job);
  if (mismatch) {
    const reason = `region message does not match its job: ${mismatch}`;
    ctx.logger.error({ ...log, dead_letter_queue: dlq }, reason);
    await deadLetterRegionMessage(ctx, message, reason);
    return 'delete';
  }
  if (job.end_time !== undefined) {
    ctx.logger.info({ ...log, status: job.image_status }, 'region message for a job that has ended: only what its end owes is checked');
    await settleEndedJob(ctx, request, job);
    return 'delete';
  }
  let outcome: RegionOutcome;
  const delivery: RegionDelivery = {};
  try {
    const work = await regionWorkFromRequest(ctx, request);
    outcome = await processRegion(ctx, work, context.signal, message.receiveCount >= ctx.config.maxDeliveries, delivery);
  } catch (err) {
    // The work is recorded; only a status is missing: the redelivery publishes it.
    if (context.signal.aborted || err instanceof StatusNotPublishedError) throw err;
    // The image opened fine for the image handler, so a read failure here is more likely passing: retried like the rest.
    if (message.receiveCount < ctx.config.maxDeliveries) throw err;
    outcome = await failRegion(ctx, request, failureReason(err, message.receiveCount), context.signal, true, delivery);
  }
  return dispositionOf(outcome);
}

/**
 * Comes back when its image still waits on another container's aggregation lease: as a delayed copy, so that
 * waiting (a long aggregation renews its lease for as long as it runs) never spends the message's deliveries.
 */
export function dispositionOf(outcome: RegionOutcome): MessageDisposition {
  return outcome.retryAfterSeconds !== undefined ? { resendAfterSeconds: outcome.retryAfterSeconds } : 'delete';
}
