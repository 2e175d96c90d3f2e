/**
 * The service's writes to OSML's outstanding requests table (state/outstanding-table.ts), when OUTSTANDING_JOBS_TABLE
 * (or OUTSTANDING_IMAGE_REQUEST_TABLE) is set: received → attempt started (region count) → regions appended →
 * deleted at the job's end. The table mirrors the job for OSML's dashboards and tools; nothing here decides
 * anything, so a failed write is logged and never fails or delays the job.
 */
import { requestOutputs, type ImageRequest } from '../api/image-request.js';
import { errorDetails } from '../aws/logger.js';
import type { Plain } from '../state/attribute-values.js';
import type { JobItem } from '../state/job-table.js';
import { isRegionFinal } from '../state/region-table.js';
import type { ServiceContext } from './context.js';

/** OSML's internal ImageRequest fields (snake_case), as its RequestedJobsTable stores `request_payload`. */
export function osmlRequestPayload(request: ImageRequest, imageId: string): { [key: string]: Plain | undefined } {
  const plain = (v: unknown) => JSON.parse(JSON.stringify(v ?? null)) as Plain;
  const tile = request.imageProcessorTileSize;
  const overlap = request.imageProcessorTileOverlap;
  return {
    job_id: request.jobId,
    image_id: imageId,
    image_url: request.imageUrls[0],
    image_read_role: request.imageReadRole ?? '',
    outputs: plain(requestOutputs(request)),
    model_name: request.imageProcessor.name,
    model_invoke_mode: request.imageProcessor.type,
    model_invocation_role: request.imageProcessor.assumedRole ?? '',
    ...(request.imageProcessorParameters ? { model_endpoint_parameters: plain(request.imageProcessorParameters) } : {}),
    tile_size: [tile, tile],
    tile_overlap: [overlap, overlap],
    tile_format: request.imageProcessorTileFormat,
    tile_compression: request.imageProcessorTileCompression,
    feature_properties: plain(request.featureProperties),
    roi: request.regionOfInterest ?? null,
    post_processing: plain(request.postProcessing ?? [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'NMS', iouThreshold: 0.75 } }]),
  };
}

async function bestEffort(ctx: ServiceContext, what: string, log: object, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    ctx.logger.warn({ ...log, table: ctx.outstanding?.tableName, ...errorDetails(err) }, `outstanding jobs table: ${what} failed (the job is not affected)`);
  }
}

export function outstandingReceived(ctx: ServiceContext, request: ImageRequest, imageId: string): Promise<void> {
  const table = ctx.outstanding;
  if (!table) return Promise.resolve();
  return bestEffort(ctx, 'recording the request', { job_id: request.jobId }, () => table.add({ endpointId: request.imageProcessor.name, jobId: request.jobId, payload: osmlRequestPayload(request, imageId) }));
}

/**
 * A delivery of the image request that runs the job: one more attempt (OSML's start_next_attempt). A delivery that
 * finds the job's first region already finished runs nothing new — a delayed copy of the message waiting on another
 * container's aggregation lease, a late duplicate — and is not counted.
 */
export function outstandingAttempt(ctx: ServiceContext, request: ImageRequest, imageId: string, firstRegionId: string, regionCount: number): Promise<void> {
  const table = ctx.outstanding;
  if (!table) return Promise.resolve();
  return bestEffort(ctx, 'recording an attempt', { job_id: request.jobId }, async () => {
    const first = await ctx.regions.get(imageId, firstRegionId);
    if (first && isRegionFinal(first)) return;
    await table.startAttempt(request.imageProcessor.name, request.jobId, regionCount);
  });
}

export function outstandingRegionDone(ctx: ServiceContext, modelName: string, jobId: string, regionId: string): Promise<void> {
  const table = ctx.outstanding;
  if (!table) return Promise.resolve();
  return bestEffort(ctx, 'recording a finished region', { job_id: jobId, region_id: regionId }, () => table.completeRegion(modelName, jobId, regionId));
}

export function outstandingDone(ctx: ServiceContext, job: Pick<JobItem, 'model_name' | 'job_id'>): Promise<void> {
  const table = ctx.outstanding;
  if (!table || !job.model_name || !job.job_id) return Promise.resolve();
  const { model_name: modelName, job_id: jobId } = job;
  return bestEffort(ctx, 'removing the ended job', { job_id: jobId }, () => table.complete(modelName, jobId));
}
