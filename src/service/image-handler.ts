/**
 * The image-queue message handler (OSML's ImageRequestHandler, reference §1.3): validate → record the job →
 * open the image header and plan it → queue every region but the first → process the first region here → the
 * completion path (aggregation when this made the image complete).
 *
 * Outcomes:
 * - invalid request: to the image dead-letter queue with the reason (naming the field), message deleted, no job;
 * - another request under the jobId of an existing job (another image, see claimJobId; or the same image but not a
 *   redelivery of the job's own request, see RequestIdentity): to the dead-letter queue naming `jobId`, the existing
 *   job untouched;
 * - input problem (image missing or unreadable, ROI outside it, ...): job FAILED, status published, message to the
 *   dead-letter queue with the reason;
 * - anything else (the tables or queues not answering ...): the message is left for redelivery, which resumes
 *   where this one stopped (a conditional job start, regions queued once); after TESSERA_MAX_DELIVERIES the job is
 *   recorded as FAILED instead.
 */
import { createHash } from 'node:crypto';
import { InvalidRequestError, imageIdOf, requestDistillation, requestOutputs, type ImageRequest } from '../api/image-request.js';
import { prepareImage, workerConfigFor, JobInputError } from '../pipeline/run-image.js';
import { nitfSourceMetadata } from '../features/output.js';
import { imageReadAccess } from '../aws/image-read-role.js';
import { sendToDeadLetterQueue, type QueueMessage } from '../queues/sqs-queue.js';
import type { MessageContext, MessageDisposition } from '../queues/message-worker.js';
import { isRegionFinal } from '../state/region-table.js';
import type { JobItem } from '../state/job-table.js';
import type { SensorModel } from '../geolocation/sensor-model.js';
import type { ServiceContext } from './context.js';
import { fieldOfProblem, ImageInputError, imageJobFromRequest, parseServiceRequest, resolveImagePath } from './image-job.js';
import { planOf, regionIdOf, toBounds, type RegionRequest, type TilingSpec } from './region-request.js';
import { allTiles, crowdedTilingWarning } from '../tiling/index.js';
import { dispositionOf, failRegion, failureReason, isInputError, processRegion, type RegionDelivery, type RegionWork } from './region-handler.js';
import { publishImageEnd, StatusNotPublishedError } from './aggregation.js';
import { admitImage, deferThrottledRequest } from './throttling.js';
import { outstandingAttempt, outstandingReceived } from './outstanding-jobs.js';

/** startImage's answer when the endpoint has no room for the job yet (see throttling.ts). */
const THROTTLED = 'throttled' as const;

export async function handleImageMessage(ctx: ServiceContext, message: QueueMessage, context: MessageContext): Promise<MessageDisposition | void> {
  let request: ImageRequest;
  try {
    request = parseServiceRequest(message.body, ctx.config.paths);
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    const field = fieldOfProblem(err.problems[0]);
    ctx.logger.warn({ messageId: message.id, problems: err.problems }, 'invalid image request: sent to the dead-letter queue');
    await sendToDeadLetterQueue(ctx.imageDlq, message.body, err.message, { ...(field ? { field } : {}), sourceQueueUrl: ctx.config.queues.image });
    return 'delete';
  }
  const imageId = imageIdOf(request);
  let prepared: Awaited<ReturnType<typeof startImage>>;
  try {
    prepared = await startImage(ctx, request, imageId, requestIdentity(message, request));
  } catch (err) {
    if (context.signal.aborted || err instanceof StatusNotPublishedError) throw err;
    const permanent = isInputError(err) || err instanceof InvalidRequestError;
    if (!permanent && message.receiveCount < ctx.config.maxDeliveries) throw err;
    await failImage(ctx, request, imageId, message, failureReason(err, message.receiveCount, permanent));
    return 'delete';
  }
  if (prepared !== THROTTLED && 'reused' in prepared) {
    await deadLetterReuse(ctx, request, imageId, message, prepared.reused);
    return 'delete';
  }
  if (prepared === THROTTLED) {
    // Sent again as a new message, then this one is deleted: waiting never uses up deliveries (throttling.ts).
    await deferThrottledRequest(ctx, message);
    return 'delete';
  }
  if ('ended' in prepared) {
    await settleEndedImage(ctx, prepared.ended, message);
    return 'delete';
  }

  // The first region, here (OSML processes it in the same thread). Failures are retried with the image message.
  const finalAttempt = message.receiveCount >= ctx.config.maxDeliveries;
  const delivery: RegionDelivery = {};
  try {
    return dispositionOf(await processRegion(ctx, prepared, context.signal, finalAttempt, delivery));
  } catch (err) {
    if (context.signal.aborted || !finalAttempt || err instanceof StatusNotPublishedError) throw err;
    return dispositionOf(await failRegion(ctx, prepared.request, failureReason(err, message.receiveCount), context.signal, true, delivery));
  }
}

/**
 * Which request a job was started by, stored on the job item when it is created: the SQS message id of the
 * delivery that created it and a hash of the validated request. A later message for the same image id is the same
 * request when either matches — a redelivery (same message id), or the same request sent again (a producer's
 * retry, a throttled request put back on the queue, a duplicate SQS delivery: identical content, whatever its
 * formatting) — and anything else is another request reusing the jobId. Hashing the parsed request rather than the
 * body text makes a re-serialised copy of the same request count as the same one.
 */
export interface RequestIdentity {
  request_message_id: string;
  request_hash: string;
}

export function requestIdentity(message: Pick<QueueMessage, 'id'>, request: ImageRequest): RequestIdentity {
  return { request_message_id: message.id, request_hash: createHash('sha256').update(JSON.stringify(request)).digest('hex') };
}

/**
 * Why this request may not use the job it found under its image id, or null when it is that job's own request
 * (see RequestIdentity). A job stored without an identity (started by an older version) is taken as this request's.
 */
export function jobIdReuse(job: JobItem, identity: RequestIdentity): string | null {
  const stored = { id: job.request_message_id, hash: job.request_hash };
  if (stored.id === undefined && stored.hash === undefined) return null;
  if (stored.id === identity.request_message_id || stored.hash === identity.request_hash) return null;
  const jobId = job.job_id ?? job.image_id;
  const status = job.image_status ?? 'STARTED';
  if (job.end_time !== undefined) return `jobId: ${jobId} was already used for a job that ended ${new Date(job.end_time).toISOString()} with status ${status}; use a new jobId`;
  return `jobId: ${jobId} is already used by a job that is still running (started ${new Date(job.start_time).toISOString()}, status ${status}); use a new jobId`;
}

/**
 * Claims the request's jobId for its image (JobTable.claimJobId): null when the jobId is this image's, else why
 * not (the jobId already names a job on another image; that job is left alone).
 */
async function claimJobId(ctx: ServiceContext, request: ImageRequest, imageId: string, identity: RequestIdentity): Promise<string | null> {
  const { claimed, claim } = await ctx.jobs.claimJobId(request.jobId, { image_id: imageId, ...identity });
  if (claimed) return null;
  const other = await ctx.jobs.get(claim.claimed_image_id);
  const image = other?.image_url ?? claim.claimed_image_id.slice(request.jobId.length + 1);
  const where = `another image (${JSON.stringify(image)})`;
  if (!other) return `jobId: ${request.jobId} is already used for ${where}; use a new jobId`;
  const status = other.image_status ?? 'STARTED';
  if (other.end_time !== undefined) return `jobId: ${request.jobId} was already used for ${where} by a job that ended ${new Date(other.end_time).toISOString()} with status ${status}; use a new jobId`;
  return `jobId: ${request.jobId} is already used for ${where} by a job that is still running (started ${new Date(other.start_time).toISOString()}, status ${status}); use a new jobId`;
}

/**
 * Records the job, opens and plans the image, queues regions 2..n and returns the first region's work; the job
 * when it had already ended (a late redelivery), THROTTLED when its endpoint has no capacity for it yet, `reused`
 * when the jobId is another image's (claimJobId) or the job under this image id was started by another request
 * (jobIdReuse).
 * Input problems throw (the caller fails the job).
 */
async function startImage(ctx: ServiceContext, request: ImageRequest, imageId: string, identity: RequestIdentity): Promise<RegionWork | typeof THROTTLED | { ended: JobItem } | { reused: string }> {
  const { config } = ctx;
  const url = request.imageUrls[0];
  const log = { job_id: request.jobId, image_id: imageId };
  const claimed = await claimJobId(ctx, request, imageId, identity);
  if (claimed) return { reused: claimed };
  const { created, job } = await ctx.jobs.start({
    image_id: imageId,
    job_id: request.jobId,
    image_url: url,
    model_name: request.imageProcessor.name,
    model_invoke_mode: request.imageProcessor.type,
    ...(request.imageReadRole ? { image_read_role: request.imageReadRole } : {}),
    ...(request.jobName ? { job_name: request.jobName } : {}),
    ...identity,
  });
  const reused = created ? null : jobIdReuse(job, identity);
  if (reused) return { reused };
  if (job.end_time !== undefined) {
    ctx.logger.info({ ...log, status: job.image_status }, 'image request for a job that has already ended: only what its end owes is checked');
    return { ended: job };
  }
  // OSML's outstanding record of the request (kept for its dashboards); idempotent, so every delivery may ask.
  await outstandingReceived(ctx, request, imageId);
  if (created) {
    ctx.logger.info({ ...log, image_url: url }, 'image started');
    await ctx.status.publishImageStatus({ status: 'STARTED', jobId: request.jobId, imageId });
  } else {
    ctx.logger.info({ ...log, status: job.image_status }, 'image request redelivered: resuming');
  }

  // A local run has no AWS clients: its images are local files.
  const reads = ctx.clients
    ? imageReadAccess(ctx.clients, request.imageReadRole)
    : { credentials: undefined, s3: () => { throw new ImageInputError(`imageUrls[0]: ${url} is on S3, which needs the service (tessera serve)`); } };
  const path = await resolveImagePath(url, reads.s3, config.paths.images);
  const { width: rw, height: rh } = config.regionSize;
  const imageJob = imageJobFromRequest(request, {
    image: path,
    readCredentials: reads.credentials,
    drivers: config.gdalDrivers,
    regionSize: Math.max(rw, rh),
    strategy: config.tilingStrategy,
    quality: config.tiles.quality,
    maxPayloadBytes: config.tiles.maxPayloadBytes,
    timeoutMs: config.model.timeoutMs,
    maxRetries: config.model.maxRetries,
    aws: config.aws,
  });
  const prepared = await prepareImage(imageJob);
  for (const w of prepared.warnings) ctx.logger.warn({ ...log }, w);
  const { info } = prepared;
  const size = (n: number) => ({ width: n, height: n });
  const tiling: TilingSpec = {
    strategy: config.tilingStrategy,
    bounds: prepared.plan.bounds,
    tileSize: size(imageJob.tileSize),
    overlap: size(imageJob.overlap),
    regionSize: config.regionSize,
  };
  let plan;
  try {
    plan = planOf(tiling);
  } catch (err) {
    throw new JobInputError(`tiling: ${(err as Error).message} (REGION_SIZE ${rw}x${rh})`);
  }
  const source = nitfSourceMetadata(url, info.metadata);
  const featureProperties = source ? [...request.featureProperties, { sourceMetadata: [source] }] : request.featureProperties;

  const base: Omit<RegionRequest, 'region_bounds' | 'region_id'> = {
    image_id: imageId,
    job_id: request.jobId,
    image_url: url,
    ...(request.imageReadRole ? { image_read_role: request.imageReadRole } : {}),
    model_name: request.imageProcessor.name,
    ...(request.imageProcessor.assumedRole ? { model_invocation_role: request.imageProcessor.assumedRole } : {}),
    model_invoke_mode: request.imageProcessor.type,
    model_endpoint_parameters: request.imageProcessorParameters ?? null,
    tile_size: [imageJob.tileSize, imageJob.tileSize],
    tile_overlap: [imageJob.overlap, imageJob.overlap],
    tile_format: imageJob.encoding.format,
    tile_compression: imageJob.encoding.compression,
    image_extension: info.format,
    image_path: path,
    ...(imageJob.imageSegment !== undefined ? { image_segment: imageJob.imageSegment } : {}),
    tile_quality: imageJob.encoding.quality,
    max_payload_bytes: imageJob.encoding.maxPayloadBytes ?? 0,
    tiling_strategy: tiling.strategy,
    processing_bounds: toBounds(tiling.bounds),
    region_size: [tiling.regionSize.width, tiling.regionSize.height],
    geolocate: info.georeference !== null,
    pixel_conversion: {
      bands: prepared.conversion.bands,
      output_type: prepared.conversion.outputType,
      range_adjustment: prepared.rangeAdjustment,
      ...(prepared.conversion.ranges ? { ranges: prepared.conversion.ranges } : {}),
    },
  };
  // Endpoint capacity (OSML NEW §11.4): decided once the region count (the job's load) is known, before any region
  // is queued. A redelivered request of an admitted job is admitted again (idempotent per image id).
  if (!(await admitImage(ctx, request, imageId, plan.regions.length))) return THROTTLED;
  // This delivery runs the job: an attempt, as OSML's scheduler counts them (unless its first region is done).
  await outstandingAttempt(ctx, request, imageId, regionIdOf(plan.regions[0], request.jobId), plan.regions.length);
  const tiles = allTiles(plan);
  // Said once, at plan time: such a run otherwise works silently for hours.
  const crowded = crowdedTilingWarning(tiles, plan.coveredBounds);
  if (crowded) {
    ctx.logger.warn({ ...log, tiles: tiles.length }, crowded);
    prepared.warnings.push(crowded);
  }
  ctx.observer?.imagePlanned?.({ imageId, prepared, plan, tileCount: tiles.length });

  const regionRequests: RegionRequest[] = plan.regions.map((region) => ({ ...base, region_bounds: toBounds(region), region_id: regionIdOf(region, request.jobId) }));

  if (job.image_status === 'STARTED' || job.region_count === undefined) {
    await ctx.jobs.update(imageId, {
      image_status: 'IN_PROGRESS',
      region_count: plan.regions.length,
      width: info.width,
      height: info.height,
      ...(prepared.sensorModel ? { extents: JSON.stringify(imageExtents(prepared.sensorModel, info.width, info.height)) } : {}),
      tile_size: `(${imageJob.tileSize}, ${imageJob.tileSize})`,
      tile_overlap: `(${imageJob.overlap}, ${imageJob.overlap})`,
      outputs: JSON.stringify(requestOutputs(request)),
      feature_properties: JSON.stringify(featureProperties),
      feature_distillation_option: JSON.stringify(osmlDistillationOption(request)),
      ...(request.regionOfInterest ? { roi_wkt: request.regionOfInterest } : {}),
      // Tessera: what any container needs to aggregate the image without opening it.
      image_request: JSON.stringify(request),
      tiling: JSON.stringify(tiling),
      input_format: info.format,
      image_path: path,
    });
    ctx.logger.info({ ...log, regions: plan.regions.length, width: info.width, height: info.height, format: info.format }, 'image in progress');
    await ctx.status.publishImageStatus({ status: 'IN_PROGRESS', jobId: request.jobId, imageId });
  }
  if (!job.regions_queued) await queueRegions(ctx, job, regionRequests.slice(1), created);

  return { request: regionRequests[0], info, workerConfig: workerConfigFor(imageJob, prepared), plan, region: plan.regions[0] };
}

/**
 * Sends the region messages (a few at a time). On a redelivered image request, regions already finished are not
 * queued again; a region queued twice is harmless (its processing is idempotent), a region never queued would
 * leave the image incomplete forever, so when in doubt it is queued.
 */
async function queueRegions(ctx: ServiceContext, job: JobItem, requests: RegionRequest[], firstDelivery: boolean): Promise<void> {
  let pending = requests;
  if (!firstDelivery) {
    const finals = await Promise.all(requests.map(async (r) => {
      const item = await ctx.regions.get(r.image_id, r.region_id);
      return item !== undefined && isRegionFinal(item);
    }));
    pending = requests.filter((_, i) => !finals[i]);
  }
  for (let i = 0; i < pending.length; i += 10) {
    await Promise.all(pending.slice(i, i + 10).map((r) => ctx.regionQueue.send(r)));
  }
  await ctx.jobs.update(job.image_id, { regions_queued: true });
  if (pending.length) ctx.logger.info({ job_id: job.job_id, image_id: job.image_id, queued: pending.length }, 'regions queued');
}

/**
 * OSML OLD's job `extents`: the image's geographic bounds in degrees from its four corners (UL, UR, LR, LL through
 * the sensor model), for dashboards and map views. Key order as OSML writes it.
 */
export function imageExtents(model: SensorModel, width: number, height: number): { north: number; south: number; east: number; west: number } {
  const corners = [[0, 0], [width, 0], [width, height], [0, height]].map(([x, y]) => model.imageToWorld(x, y));
  const lons = corners.map((c) => c[0]);
  const lats = corners.map((c) => c[1]);
  return { north: Math.max(...lats), south: Math.min(...lats), east: Math.max(...lons), west: Math.min(...lons) };
}

/** OSML's stored distillation option: `{"algorithm_type": "NMS", "iou_threshold": 0.75}`. */
function osmlDistillationOption(request: ImageRequest): Record<string, unknown> {
  const d = requestDistillation(request);
  switch (d.algorithm) {
    case 'NMS': return { algorithm_type: 'NMS', iou_threshold: d.iouThreshold };
    case 'SOFT_NMS': return { algorithm_type: 'SOFT_NMS', iou_threshold: d.iouThreshold, skip_box_threshold: d.skipBoxThreshold, sigma: d.sigma };
    case 'NONE': return { algorithm_type: 'NONE' };
  }
}

/** Another request under the jobId of an existing job: to the dead-letter queue naming `jobId`; the job is left alone. */
async function deadLetterReuse(ctx: ServiceContext, request: ImageRequest, imageId: string, message: QueueMessage, reason: string): Promise<void> {
  ctx.logger.warn({ messageId: message.id, job_id: request.jobId, image_id: imageId, reason }, 'image request reuses a jobId: sent to the dead-letter queue');
  await sendToDeadLetterQueue(ctx.imageDlq, message.body, `invalid image request: ${reason}`, { field: 'jobId', sourceQueueUrl: ctx.config.queues.image });
}

/**
 * The job ends FAILED with the reason, owing the request to the dead-letter queue (recorded with the end, in one
 * write); then what the end owes is done.
 */
async function failImage(ctx: ServiceContext, request: ImageRequest, imageId: string, message: QueueMessage, reason: string): Promise<void> {
  const identity = requestIdentity(message, request);
  // The jobId names a job on another image (this request failed before it could tell): leave that job alone.
  const otherImage = await claimJobId(ctx, request, imageId, identity);
  if (otherImage) {
    await deadLetterReuse(ctx, request, imageId, message, otherImage);
    return;
  }
  const started = await ctx.jobs.start({ image_id: imageId, job_id: request.jobId, image_url: request.imageUrls[0], model_name: request.imageProcessor.name, model_invoke_mode: request.imageProcessor.type, ...identity });
  // The job under this image id is another request's (this one failed before it could tell): leave it alone.
  const reused = started.created ? null : jobIdReuse(started.job, identity);
  if (reused) {
    await deadLetterReuse(ctx, request, imageId, message, reused);
    return;
  }
  ctx.logger.error({ job_id: request.jobId, image_id: imageId, reason }, 'image failed');
  const { job } = await ctx.jobs.end(imageId, 'FAILED', reason, { dead_letter_pending: true });
  await settleEndedImage(ctx, job, message);
}

/**
 * What an ended job owes its image message, each part done until recorded, so a redelivery after a crash (or a
 * failed send) completes it: the final status (publishImageEnd), then the request on the dead-letter queue when
 * the job failed before its regions ran.
 */
async function settleEndedImage(ctx: ServiceContext, job: JobItem, message: QueueMessage): Promise<void> {
  await publishImageEnd(ctx, job);
  if (job.dead_letter_pending !== true || job.dead_lettered_time !== undefined) return;
  const reason = job.message ?? 'image request failed';
  const field = fieldOfProblem(reason);
  await sendToDeadLetterQueue(ctx.imageDlq, message.body, reason, { ...(field ? { field } : {}), sourceQueueUrl: ctx.config.queues.image });
  await ctx.jobs.update(job.image_id, { dead_lettered_time: Date.now() });
}
