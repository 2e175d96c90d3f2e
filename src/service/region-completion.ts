import type { ImageStatus, JobItem, JobUpdate } from '../state/job-table.js';
import { imageStatusOf, isImageComplete } from '../state/job-table.js';
import type { RegionItem } from '../state/region-table.js';
import type { JobStore, RegionStore } from '../state/stores.js';
import type { OutputsStatus } from '../sinks/sink.js';
import type { TileFailureReason } from '../state/tile-failures.js';

/**
 * The bookkeeping at the end of a region, in the order that makes redelivery safe (a draft for the service
 * orchestration; the pipeline supplies the tile results):
 * 1. complete the region item once (a redelivered, already-final region keeps its first outcome);
 * 2. count it toward the image once (conditional add to `completed_region_ids`);
 * 3. aggregate if the image is complete and has not ended, whether or not this delivery did the counting: a
 *    container that counted the last region and died before aggregating leaves the message to be redelivered,
 *    and the redelivery must still aggregate.
 * Only after this returns (and aggregation, if asked for, has finished) may the region message be deleted.
 */
export interface RegionFinish {
  region: RegionItem;
  job: JobItem;
  /** This delivery counted the region (false on a redelivery of a counted region). */
  counted: boolean;
  /** The image is complete and not ended: the caller should aggregate (under `claimAggregation`). */
  shouldAggregate: boolean;
}

/** `tileFailures`: why this delivery's tiles failed (TileFailureTally.top()), summarised on the region item. */
export async function finishRegion(jobs: JobStore, regions: RegionStore, imageId: string, regionId: string, totalTiles: number, failureMessage?: string, tileFailures?: TileFailureReason[]): Promise<RegionFinish> {
  const { region } = failureMessage === undefined
    ? await regions.complete(imageId, regionId, totalTiles, tileFailures ? { tileFailures } : {})
    : await regions.fail(imageId, regionId, failureMessage, totalTiles);
  const { counted, job } = await jobs.completeRegion(imageId, regionId, region.region_status === 'SUCCESS' ? 'success' : 'error');
  return { region, job, counted, shouldAggregate: isImageComplete(job) && job.end_time === undefined };
}

/** aggregateOnce's answer: it ran, the job had already ended, or another owner holds the lease for `leaseRemainingMs`. */
export type AggregateOnceResult =
  | { ran: true; job: JobItem }
  | { ran: false; ended: true; job?: JobItem }
  | { ran: false; ended: false; leaseRemainingMs: number };

/**
 * The aggregation lease as the aggregation holds it. Anything the aggregation does outside the job item (an output
 * written) goes after `hold()`, and what it records as it goes goes through `record()`: both throw
 * AggregationLeaseLostError once the lease is another's, so an aggregator that stalled past its lease (another
 * container then took over) stops instead of writing the outputs a second time alongside the new owner.
 */
export interface AggregationLease {
  readonly owner: string;
  /** Renews the lease now (the next `leaseMs` are this owner's); throws AggregationLeaseLostError when it is lost. */
  hold(): Promise<void>;
  /** Sets attributes on the job item only while this owner holds the lease; else throws AggregationLeaseLostError. */
  record(fields: JobUpdate): Promise<void>;
}

/** The aggregation lease is another owner's now (this one ran past it), or the job has ended. */
export class AggregationLeaseLostError extends Error {
  constructor(readonly imageId: string, owner: string) {
    super(`the aggregation lease of ${imageId} is no longer held by ${owner} (another container took it over, or the job ended); this aggregation stops`);
    this.name = 'AggregationLeaseLostError';
  }
}

/**
 * Runs the image's aggregation at most once at a time across containers: takes the lease (renewed every third of
 * it while `aggregate` runs), and ends the job with its final status when `aggregate` resolves. A renewal that finds
 * the lease taken marks it lost: `aggregate`'s next `lease.hold()` or `lease.record()` throws, and the job is not
 * ended by this owner. If `aggregate` throws, the lease is given back (only if still this owner's) before the error
 * propagates, so the redelivery can aggregate at once. A lease left by a container that died expires on its own.
 */
export async function aggregateOnce(
  jobs: JobStore,
  imageId: string,
  owner: string,
  leaseMs: number,
  aggregate: (job: JobItem, lease: AggregationLease) => Promise<{ outputs: OutputsStatus; message?: string }>,
  now: () => number = Date.now,
): Promise<AggregateOnceResult> {
  if (!(await jobs.claimAggregation(imageId, owner, leaseMs))) {
    const job = await jobs.get(imageId);
    if (!job || job.end_time !== undefined) return { ran: false, ended: true, ...(job ? { job } : {}) };
    return { ran: false, ended: false, leaseRemainingMs: Math.max(0, (job.aggregation_lease_until ?? 0) - now()) };
  }
  let lost = false;
  const lease: AggregationLease = {
    owner,
    hold: async () => {
      if (lost || !(await jobs.claimAggregation(imageId, owner, leaseMs))) {
        lost = true;
        throw new AggregationLeaseLostError(imageId, owner);
      }
    },
    record: async (fields) => {
      if (lost || !(await jobs.updateUnderLease(imageId, owner, fields))) {
        lost = true;
        throw new AggregationLeaseLostError(imageId, owner);
      }
    },
  };
  let renewing: Promise<unknown> = Promise.resolve();
  const renew = setInterval(() => {
    renewing = jobs.claimAggregation(imageId, owner, leaseMs).then((held) => {
      if (!held) lost = true;
    }, () => undefined);
  }, leaseMs / 3);
  try {
    const job = (await jobs.get(imageId))!;
    const result = await aggregate(job, lease);
    // Not ended by an owner that lost the lease: the new owner ends it.
    await lease.hold();
    const status = finalImageStatus(imageStatusOf(job), result.outputs);
    const ended = await jobs.end(imageId, status, result.message);
    return { ran: true, job: ended.job };
  } catch (err) {
    // A renewal still in flight would take the lease again after the release.
    clearInterval(renew);
    await renewing;
    await jobs.releaseAggregation(imageId, owner).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(renew);
  }
}

/**
 * The image's final status from its regions' and its outputs': the worse of the two. A sink that failed makes the
 * image FAILED whatever its regions did (its output is not where it was asked to be); features a sink had to skip
 * make a successful image PARTIAL, as failed tiles make a region PARTIAL.
 */
export function finalImageStatus(regions: ImageStatus, outputs: OutputsStatus): ImageStatus {
  const rank: Record<OutputsStatus, number> = { SUCCESS: 0, PARTIAL: 1, FAILED: 2 };
  if (!(regions in rank)) return outputs === 'FAILED' ? 'FAILED' : regions;
  return rank[outputs] > rank[regions as OutputsStatus] ? outputs : regions;
}
