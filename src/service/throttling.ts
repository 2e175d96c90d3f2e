/**
 * The service side of endpoint capacity admission (endpoint-capacity.ts): admit an image job once its region count
 * is known, defer a request that must wait, release the job's load when it ends.
 *
 * How a throttled request waits — design choice. SQS counts every receive, whatever the consumer does with the
 * message, and the image queue's redrive policy moves a message to the dead-letter queue after maxReceiveCount
 * receives; our own TESSERA_MAX_DELIVERIES also fails a job after that many deliveries. Changing the visibility of
 * a throttled message would therefore burn a delivery per look, and a long wait behind a big job would end in the
 * DLQ. OSML NEW avoids this by buffering requests in a DynamoDB table polled by a scheduler. Tessera keeps the
 * queue as the buffer instead: a throttled request is sent again to the image queue as a new message (same body,
 * DelaySeconds = TESSERA_THROTTLE_RETRY_SECONDS) and only then is the received one deleted. The new message starts
 * with a receive count of 0, so throttling never counts toward the DLQ or the delivery limit, however long the
 * wait; no extra table or poller is needed, and every container keeps taking work from one queue. If the process
 * dies between the send and the delete, the request exists twice: harmless, because a job start is conditional
 * (the second copy resumes the same job) and admission is idempotent per image id.
 */
import { errorDetails } from '../aws/logger.js';
import type { QueueMessage } from '../queues/sqs-queue.js';
import type { ImageRequest } from '../api/image-request.js';
import type { JobItem } from '../state/job-table.js';
import type { ServiceContext } from './context.js';

/** True when the job may start now (or throttling is off). Emits `Throttles` (Scheduling, ModelName) when it must wait. */
export async function admitImage(ctx: ServiceContext, request: ImageRequest, imageId: string, regionCount: number): Promise<boolean> {
  if (!ctx.capacity) return true;
  const endpoint = request.imageProcessor.name;
  const d = await ctx.capacity.admit({ endpoint, invokeMode: request.imageProcessor.type, imageId, jobId: request.jobId, regionCount });
  const log = { job_id: request.jobId, image_id: imageId, endpoint, load: d.load, used: d.used, target: d.target, capacity: d.capacity, other_jobs: d.others };
  if (d.admitted) {
    if (!d.already) ctx.logger.info(log, d.others === 0 && d.load > d.target ? 'endpoint capacity: admitted (only job on the endpoint)' : 'endpoint capacity: admitted');
    return true;
  }
  ctx.logger.info({ ...log, retry_seconds: ctx.config.throttling.retrySeconds }, 'endpoint capacity: throttled, request will be looked at again');
  // Where OSML NEW's capacity check emits it: Operation Scheduling, per endpoint (reference §10, §11.4).
  ctx.metrics.record('Scheduling', { throttles: 1 }, { modelName: endpoint }, { jobId: request.jobId, imageId });
  return false;
}

/** Puts a throttled request back on the image queue as a new message (see the design note above). */
export async function deferThrottledRequest(ctx: ServiceContext, message: QueueMessage): Promise<void> {
  await ctx.imageQueue.send(message.body, { delaySeconds: ctx.config.throttling.retrySeconds });
}

/** Takes an ended job's load off its endpoint. Never fails the job: a missed release is pruned at the next admission. */
export async function releaseImage(ctx: ServiceContext, job: Pick<JobItem, 'image_id' | 'model_name'>): Promise<void> {
  if (!ctx.capacity || !job.model_name) return;
  try {
    await ctx.capacity.release(job.model_name, job.image_id);
  } catch (err) {
    ctx.logger.warn({ image_id: job.image_id, endpoint: job.model_name, ...errorDetails(err) }, 'endpoint capacity: release failed (pruned at the next admission)');
  }
}
