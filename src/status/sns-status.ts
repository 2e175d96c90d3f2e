import { PublishCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import { errorDetails, silentLogger, type AwsLogger } from '../aws/logger.js';
import type { ImageStatus } from '../state/job-table.js';
import type { PixelBounds, RegionStatus } from '../state/region-table.js';

/**
 * Image and region status messages on SNS with OSML's message attributes (§7), so existing subscribers and
 * filter policies keep working. Unlike OSML, a publish failure is logged and retried and never fails the job:
 * status is a notification, the tables are the record. A final status that still fails keeps its message for
 * another delivery (aggregation.ts, StatusNotPublishedError).
 */
export interface ImageStatusEvent {
  status: ImageStatus;
  jobId: string;
  imageId: string;
  /** Seconds, as OSML's image events (omitted when 0). */
  processingDurationSeconds?: number;
  reason?: string;
}

export interface RegionStatusEvent {
  status: RegionStatus;
  jobId: string;
  imageId: string;
  regionId: string;
  /** Milliseconds, as OSML's region events. */
  processingDurationMs?: number;
  /** Bounds of the failed tiles, or an already formatted string. */
  failedTiles?: PixelBounds[] | string;
  reason?: string;
}

/** OSML's rendering of failed tiles: `[{'1': [[r, c], [w, h]]}, {'2': ...}]` (§7). */
export function formatFailedTiles(tiles: readonly PixelBounds[]): string {
  return `[${tiles.map(([[r, c], [w, h]], i) => `{'${i + 1}': [[${r}, ${c}], [${w}, ${h}]]}`).join(', ')}]`;
}

type Attrs = Record<string, MessageAttributeValue>;

/** All String, falsy values omitted (as OSML). */
function attributes(values: Record<string, string | number | undefined>): Attrs {
  const out: Attrs = {};
  for (const [k, v] of Object.entries(values)) if (v) out[k] = { DataType: 'String', StringValue: String(v) };
  return out;
}

export function imageStatusAttributes(e: ImageStatusEvent): Attrs {
  return attributes({ status: e.status, image_status: e.status, job_id: e.jobId, image_id: e.imageId, processing_duration: e.processingDurationSeconds });
}

export function regionStatusAttributes(e: RegionStatusEvent): Attrs {
  const failed = typeof e.failedTiles === 'string' ? e.failedTiles : e.failedTiles?.length ? formatFailedTiles(e.failedTiles) : undefined;
  return attributes({ status: e.status, job_id: e.jobId, image_id: e.imageId, region_id: e.regionId, processing_duration: e.processingDurationMs, failed_tiles: failed });
}

/** OSML's message text (subscribers should rely on the attributes, not on this). */
export function statusMessageText(status: string, jobId: string, reason: string): string {
  return `StatusMonitor update: ${status} ${jobId}: ${reason}`;
}

export interface StatusPublisherOptions {
  sns?: SNSClient;
  /** IMAGE_STATUS_TOPIC; absent: image events are not published (a warning once). */
  imageTopicArn?: string;
  /** REGION_STATUS_TOPIC */
  regionTopicArn?: string;
  logger?: AwsLogger;
  /** Publish attempts per message (on top of the SDK's own retries). Default 3. */
  maxAttempts?: number;
  retryBaseMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class StatusPublisher {
  private readonly logger: AwsLogger;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly warnedMissing = new Set<string>();

  constructor(private readonly options: StatusPublisherOptions) {
    this.logger = options.logger ?? silentLogger;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Whether events of this kind go anywhere (topic and client configured): false from a publish then means it failed. */
  publishes(kind: 'image' | 'region'): boolean {
    return Boolean(this.options.sns && (kind === 'image' ? this.options.imageTopicArn : this.options.regionTopicArn));
  }

  /** Resolves true when published, false when not configured or every attempt failed. Never rejects. */
  publishImageStatus(e: ImageStatusEvent): Promise<boolean> {
    const reason = e.reason ?? defaultImageReason(e.status);
    return this.publish('image', this.options.imageTopicArn, statusMessageText(e.status, e.jobId, reason), imageStatusAttributes(e), { jobId: e.jobId, imageId: e.imageId, status: e.status });
  }

  publishRegionStatus(e: RegionStatusEvent): Promise<boolean> {
    const reason = e.reason ?? 'Completed region processing';
    return this.publish('region', this.options.regionTopicArn, statusMessageText(e.status, e.jobId, reason), regionStatusAttributes(e), { jobId: e.jobId, imageId: e.imageId, regionId: e.regionId, status: e.status });
  }

  private async publish(kind: string, topicArn: string | undefined, message: string, MessageAttributes: Attrs, context: object): Promise<boolean> {
    if (!topicArn || !this.options.sns) {
      if (!this.warnedMissing.has(kind)) {
        this.warnedMissing.add(kind);
        this.logger.warn({ kind }, `no ${kind} status topic configured: ${kind} status is not published`);
      }
      return false;
    }
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        await this.options.sns.send(new PublishCommand({ TopicArn: topicArn, Message: message, MessageAttributes }));
        return true;
      } catch (err) {
        const last = attempt === this.maxAttempts;
        this.logger.warn({ ...context, topicArn, attempt, ...errorDetails(err) }, last ? `publishing ${kind} status failed: giving up` : `publishing ${kind} status failed: retrying`);
        if (!last) await this.sleep(this.retryBaseMs * 2 ** (attempt - 1));
      }
    }
    return false;
  }
}

function defaultImageReason(status: ImageStatus): string {
  switch (status) {
    case 'STARTED': return 'Started image request';
    case 'IN_PROGRESS': return 'Processing regions';
    default: return 'Completed image processing';
  }
}
