import { DescribeStreamCommand, PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { Feature } from '../features/geojson.js';
import type { FeatureError, FeatureSource, Sink, SinkContext, SinkResult } from './sink.js';

/** Kinesis limits: per PutRecords call 500 records and 5 MiB, per record 1 MiB (data plus partition key). */
export const KINESIS_MAX_RECORDS = 500;
export const KINESIS_MAX_BATCH_BYTES = 5 * 1024 * 1024;
export const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;

export interface KinesisSinkOptions {
  client: KinesisClient;
  stream: string;
  /** Attempts for records the service rejected (throttling, internal failure), with jittered back-off. Default 8. */
  maxAttempts?: number;
  /** Back-off base, ms (doubles per attempt, capped at 5 s). Default 100. */
  retryBaseMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The record OSML writes for one feature: a one-feature FeatureCollection. */
export function kinesisRecordData(feature: Feature): string {
  return `{"type": "FeatureCollection", "features": [${JSON.stringify(feature)}]}`;
}

interface Pending {
  index: number;
  id?: string | number;
  entry: PutRecordsRequestEntry;
  bytes: number;
}

/**
 * One record per feature to a Kinesis stream, partition key = job id, as OSML does, but within Kinesis's limits
 * measured in UTF-8 bytes: batches of at most 500 records and 5 MiB, a feature whose record would pass 1 MiB is
 * reported as an error for that feature (the others are still written), and records the service rejects
 * (FailedRecordCount, per-record ErrorCode) are retried with back-off instead of ignored (§8.2, §16.17).
 */
export class KinesisSink implements Sink {
  readonly type = 'Kinesis';
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: KinesisSinkOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.retryBaseMs = options.retryBaseMs ?? 100;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get target(): string {
    return `kinesis:${this.options.stream}`;
  }

  async write(source: FeatureSource, context: SinkContext): Promise<SinkResult> {
    const { client, stream } = this.options;
    // DescribeStream, as OSML: the IAM policies of existing deployments allow it.
    const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamName: stream, Limit: 1 })).catch((err) => {
      throw new Error(`Kinesis output stream ${stream} is not usable (${(err as Error).name === 'ResourceNotFoundException' ? 'it does not exist' : (err as Error).message})`);
    });
    const status = StreamDescription?.StreamStatus;
    if (status !== 'ACTIVE' && status !== 'UPDATING') throw new Error(`Kinesis output stream ${stream} is ${status}, not ACTIVE`);

    const partitionKey = context.jobId;
    const keyBytes = Buffer.byteLength(partitionKey, 'utf8');
    const errors: FeatureError[] = [];
    let written = 0;
    let batch: Pending[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (!batch.length) return;
      const failed = await this.putWithRetry(batch);
      written += batch.length - failed.length;
      errors.push(...failed);
      batch = [];
      batchBytes = 0;
    };

    let index = 0;
    for await (const feature of source()) {
      const data = Buffer.from(kinesisRecordData(feature), 'utf8');
      const bytes = data.length + keyBytes;
      if (bytes > KINESIS_MAX_RECORD_BYTES) {
        errors.push({ index, id: feature.id, reason: `feature record is ${bytes} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte record limit` });
      } else {
        if (batch.length >= KINESIS_MAX_RECORDS || batchBytes + bytes > KINESIS_MAX_BATCH_BYTES) await flush();
        batch.push({ index, id: feature.id, entry: { Data: data, PartitionKey: partitionKey }, bytes });
        batchBytes += bytes;
      }
      index++;
    }
    await flush();
    return { featuresWritten: written, location: `kinesis:${stream}`, ...(errors.length ? { featureErrors: errors } : {}) };
  }

  /** Puts a batch, retrying only the records that failed; returns those still failing after the last attempt. */
  private async putWithRetry(batch: Pending[]): Promise<FeatureError[]> {
    let pending = batch;
    let last = new Map<Pending, string>();
    for (let attempt = 1; attempt <= this.maxAttempts && pending.length; attempt++) {
      if (attempt > 1) await this.sleep(Math.random() * Math.min(5000, this.retryBaseMs * 2 ** (attempt - 2)) + this.retryBaseMs / 2);
      const out = await this.options.client.send(new PutRecordsCommand({ StreamName: this.options.stream, Records: pending.map((p) => p.entry) }));
      if (!out.FailedRecordCount) return [];
      const records = out.Records ?? [];
      last = new Map();
      pending = pending.filter((p, i) => {
        const r = records[i];
        if (r && !r.ErrorCode) return false;
        last.set(p, r ? `${r.ErrorCode}: ${r.ErrorMessage ?? ''}`.trim() : 'no result returned for the record');
        return true;
      });
    }
    return pending.map((p) => ({ index: p.index, id: p.id, reason: `not accepted by Kinesis after ${this.maxAttempts} attempts (${last.get(p)})` }));
  }
}
