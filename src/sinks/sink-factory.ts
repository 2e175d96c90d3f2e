import type { S3Client } from '@aws-sdk/client-s3';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { FileSink, type Sink } from './sink.js';
import { S3Sink } from './s3-sink.js';
import { KinesisSink } from './kinesis-sink.js';
import type { LocalScope } from '../api/request-paths.js';

/** The outputs of an image request (structurally the same as the API's Output type). */
export type OutputSpec =
  | { type: 'S3'; bucket: string; prefix: string; role?: string }
  | { type: 'Kinesis'; stream: string; batchSize?: number; assumedRole?: string }
  | { type: 'File'; path: string };

export interface SinkClients {
  /** An S3 client, with the role's credentials when one is given. */
  s3(role?: string): S3Client;
  kinesis(role?: string): KinesisClient;
}

/**
 * Sinks for a request's outputs. Kinesis's `batchSize` is accepted and, as in OSML, not used: the batch limits are
 * Kinesis's own. An empty list is an error here, before any work is lost to it (OSML fails at the very end, §16.17).
 * `File` outputs are written only where `fileOutputs` allows (request-paths.ts).
 */
export function sinksForOutputs(outputs: readonly OutputSpec[], clients: SinkClients, fileOutputs: LocalScope): Sink[] {
  if (!outputs.length) throw new Error('the request has no outputs: nothing would receive its features');
  return outputs.map((o) => {
    switch (o.type) {
      case 'S3':
        return new S3Sink({ client: clients.s3(o.role), bucket: o.bucket, prefix: o.prefix });
      case 'Kinesis':
        return new KinesisSink({ client: clients.kinesis(o.assumedRole), stream: o.stream });
      case 'File':
        return new FileSink(o.path, fileOutputs);
    }
  });
}
