/** What the service's handlers share: configuration, AWS clients, tables, queues, status, metrics and the tile pool. */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { AwsClients, createKinesisClient, createS3Client } from '../aws/clients.js';
import { assumedRoleCredentials } from '../aws/assume-role.js';
import type { AwsLogger } from '../aws/logger.js';
import { JobTable } from '../state/job-table.js';
import { RegionTable } from '../state/region-table.js';
import { FeatureTable } from '../state/feature-table.js';
import { OutstandingJobsTable } from '../state/outstanding-table.js';
import { SqsQueue } from '../queues/sqs-queue.js';
import type { MessageQueue } from '../queues/message-queue.js';
import type { FeatureStore, JobStore, RegionStore } from '../state/stores.js';
import type { ImageRequest } from '../api/image-request.js';
import type { JobItem } from '../state/job-table.js';
import type { PreparedImage } from '../pipeline/run-image.js';
import type { TilingPlan } from '../tiling/index.js';
import type { Sink } from '../sinks/sink.js';
import { StatusPublisher } from '../status/sns-status.js';
import { Metrics } from '../metrics/emf.js';
import { TilePool } from '../pipeline/tile-pool.js';
import { ReadResources } from '../pipeline/read-resources.js';
import type { SinkClients } from '../sinks/sink-factory.js';
import type { RasterInfo } from '../raster/raster-source.js';
import type { ServiceConfig } from './config.js';
import { EndpointCapacity, SageMakerCapacity } from './endpoint-capacity.js';

export interface ServiceLogger extends AwsLogger {
  debug(details: object, message: string): void;
}

/**
 * What a local run (`tessera run`) watches while the handlers work: the plan, each tile, a reason to stop early,
 * and its own output in place of the request's outputs. The service has none.
 */
export interface JobObserver {
  imagePlanned?(e: { imageId: string; prepared: PreparedImage; plan: TilingPlan; tileCount: number }): void;
  tileSucceeded?(e: { imageId: string; tile: string; features: number }): void;
  tileFailed?(e: { imageId: string; tile: string; error: string }): void;
  /** Checked before each tile is dispatched: a reason stops the image's remaining tiles. */
  stopReason?(imageId: string): string | null;
  sinksFor?(request: ImageRequest, job: JobItem): Sink[];
}

export interface ServiceContext {
  config: ServiceConfig;
  /** The AWS clients (service mode); a local run has none. */
  clients?: AwsClients;
  jobs: JobStore;
  regions: RegionStore;
  features: FeatureStore;
  regionQueue: MessageQueue;
  /** The image queue, for sending a throttled request back (see image-handler's admission step). */
  imageQueue: MessageQueue;
  imageDlq: MessageQueue;
  /** Endpoint capacity admission; absent when throttling is off (no ENDPOINT_TABLE, SCHEDULER_THROTTLING_ENABLED=false). */
  capacity?: EndpointCapacity;
  /** OSML's outstanding requests table, kept for its dashboards (outstanding-jobs.ts); absent without OUTSTANDING_JOBS_TABLE. */
  outstanding?: OutstandingJobsTable;
  regionDlq?: MessageQueue;
  status: StatusPublisher;
  metrics: Metrics;
  pool: TilePool;
  logger: ServiceLogger;
  /** This process, as the owner of aggregation leases; each aggregation attempt adds a suffix of its own (aggregation.ts aggregationOwner). */
  owner: string;
  sinkClients: SinkClients;
  /** Image headers already read by this process (a region re-opens its image; the header does not change). */
  rasterInfo: Map<string, RasterInfo>;
  /** GDAL handles and slot pools of the images this process is reading, kept across their regions. */
  readResources: ReadResources;
  observer?: JobObserver;
}

export interface ContextOptions {
  metricsWrite?: (line: string) => void;
  pool?: TilePool;
}

/** The service's context: DynamoDB tables, SQS queues, SNS, EMF; its clients are always present. */
export function createServiceContext(config: ServiceConfig, logger: ServiceLogger, options: ContextOptions = {}): ServiceContext & { clients: AwsClients } {
  const clients = new AwsClients(config.aws);
  const tableOptions = { ttlDays: config.ttlDays };
  const s3ByRole = new Map<string, S3Client>();
  const kinesisByRole = new Map<string, KinesisClient>();
  const sinkClients: SinkClients = {
    s3: (role) => {
      if (!role) return clients.s3;
      let c = s3ByRole.get(role);
      if (!c) s3ByRole.set(role, (c = createS3Client(config.aws, { credentials: assumedRoleCredentials(clients.sts, role, { purpose: 'the S3 output role' }) })));
      return c;
    },
    kinesis: (role) => {
      if (!role) return clients.kinesis;
      let c = kinesisByRole.get(role);
      if (!c) kinesisByRole.set(role, (c = createKinesisClient(config.aws, { credentials: assumedRoleCredentials(clients.sts, role, { purpose: 'the Kinesis output assumedRole' }) })));
      return c;
    },
  };
  const jobs = new JobTable(clients.dynamodb, config.tables.job, tableOptions);
  return {
    config,
    clients,
    jobs,
    regions: new RegionTable(clients.dynamodb, config.tables.region, tableOptions),
    features: new FeatureTable(clients.dynamodb, config.tables.feature, tableOptions),
    regionQueue: new SqsQueue(clients.sqs, config.queues.region),
    imageQueue: new SqsQueue(clients.sqs, config.queues.image),
    imageDlq: new SqsQueue(clients.sqs, config.queues.imageDlq),
    ...(config.throttling.enabled && config.tables.endpoint
      ? { capacity: new EndpointCapacity(clients.dynamodb, config.tables.endpoint, jobs, config.throttling, new SageMakerCapacity(clients.sagemaker, config.throttling, logger), config.ttlDays) }
      : {}),
    ...(config.tables.outstanding ? { outstanding: new OutstandingJobsTable(clients.dynamodb, config.tables.outstanding, config.ttlDays) } : {}),
    ...(config.queues.regionDlq ? { regionDlq: new SqsQueue(clients.sqs, config.queues.regionDlq) } : {}),
    status: new StatusPublisher({ sns: clients.sns, imageTopicArn: config.topics.image, regionTopicArn: config.topics.region, logger }),
    metrics: new Metrics({ logger, ...(options.metricsWrite ? { write: options.metricsWrite } : {}) }),
    pool: options.pool ?? new TilePool({ workers: config.workerThreads, concurrencyPerWorker: config.concurrencyPerWorker }),
    logger,
    owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    sinkClients,
    rasterInfo: new Map(),
    readResources: new ReadResources(),
  };
}

/** Closes what the context opened (the pool, client connection pools). */
export async function closeServiceContext(ctx: ServiceContext): Promise<void> {
  await ctx.readResources.close();
  await ctx.pool.destroy();
  ctx.clients?.destroy();
}
