import { Readable } from 'node:stream';
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Feature } from '../features/geojson.js';
import { featureCollectionChunks } from './feature-collection-text.js';
import type { FeatureSource, Sink, SinkContext, SinkResult } from './sink.js';

/** OSML's object key: `os.path.join(prefix, <last path segment of jobId> + ".geojson")` (§8.1). */
export function s3ObjectKey(prefix: string | undefined, jobId: string): string {
  const name = `${jobId.split('/').pop()}.geojson`;
  if (!prefix) return name;
  return prefix.endsWith('/') ? `${prefix}${name}` : `${prefix}/${name}`;
}

export interface S3SinkOptions {
  client: S3Client;
  bucket: string;
  prefix?: string;
  /** Multipart part size (S3's minimum is 5 MiB); a smaller body goes up as one PutObject. Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Memory in flight ≈ partSize × (queueSize + 1). Default 4. */
  queueSize?: number;
  /** OSML uploads with `bucket-owner-full-control`; null to send no ACL. */
  acl?: 'bucket-owner-full-control' | null;
}

/**
 * Writes the FeatureCollection to `s3://<bucket>/<prefix>/<jobId>.geojson`, streamed from the feature source with
 * lib-storage's Upload (multipart once the body passes one part), so the collection is never one string in memory.
 * The bucket is checked first so a missing or forbidden bucket is a clear error before any feature is read.
 */
export class S3Sink implements Sink {
  readonly type = 'S3';

  constructor(private readonly options: S3SinkOptions) {}

  get target(): string {
    return `s3://${this.options.bucket}/${this.options.prefix ?? ''}`;
  }

  async write(source: FeatureSource, context: SinkContext): Promise<SinkResult> {
    const { client, bucket } = this.options;
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      throw new Error(`S3 output bucket ${bucket} is not usable (${status === 404 ? 'it does not exist' : status === 403 ? 'access denied' : (err as Error).name || String(err)})`);
    }
    const key = s3ObjectKey(this.options.prefix, context.jobId);
    let count = 0;
    const counted = async function* (features: AsyncIterable<Feature> | Iterable<Feature>) {
      for await (const f of features) {
        count++;
        yield f;
      }
    };
    const upload = new Upload({
      client,
      params: {
        Bucket: bucket,
        Key: key,
        Body: Readable.from(featureCollectionChunks(counted(source()), context.extra)),
        ContentType: 'application/geo+json',
        ...(this.options.acl === null ? {} : { ACL: this.options.acl ?? 'bucket-owner-full-control' }),
      },
      partSize: Math.max(this.options.partSizeBytes ?? 8 * 1024 * 1024, 5 * 1024 * 1024),
      queueSize: this.options.queueSize ?? 4,
      leavePartsOnError: false,
    });
    await upload.done();
    return { featuresWritten: count, location: `s3://${bucket}/${key}` };
  }
}
