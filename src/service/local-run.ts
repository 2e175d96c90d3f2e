/**
 * `tessera run` as a one-process deployment of the service: the same image and region handlers, on in-process
 * stand-ins (memory queues for the image, region and dead-letter queues, memory job/region/feature stores) instead
 * of SQS and DynamoDB. The request goes onto the image queue; the image handler validates it, plans the image,
 * queues regions 2..n and runs the first; the region handler runs the rest; the region that completes the image
 * aggregates it into the run's output. What the command line shows (progress, failures, the run metadata in the
 * output) comes from the context's observer; nothing here re-implements a handler step.
 */
import { performance } from 'node:perf_hooks';
import { availableParallelism, tmpdir } from 'node:os';
import { pino } from 'pino';
import { imageIdOf, type ImageRequest } from '../api/image-request.js';
import { silentLogger } from '../aws/logger.js';
import { MemoryQueue } from '../queues/memory-queue.js';
import { MemoryFeatureStore, MemoryJobStore, MemoryRegionStore } from '../state/memory-stores.js';
import type { ImageStatus, JobItem } from '../state/job-table.js';
import { StatusPublisher } from '../status/sns-status.js';
import { Metrics } from '../metrics/emf.js';
import { TilePool } from '../pipeline/tile-pool.js';
import { ReadResources } from '../pipeline/read-resources.js';
import { JobInputError, type PreparedImage } from '../pipeline/run-image.js';
import type { Sink } from '../sinks/sink.js';
import type { SinkClients } from '../sinks/sink-factory.js';
import type { TilingPlan, TilingStrategyName } from '../tiling/index.js';
import { DEFAULT_THROTTLING } from './endpoint-capacity.js';
import type { ServiceConfig } from './config.js';
import type { ServiceContext, ServiceLogger } from './context.js';
import { createHandlerWorkers } from './handler-workers.js';
import { LOCAL_RUN_PATHS } from '../api/request-paths.js';

export interface LocalRunSettings {
  /** A validated request for an HTTP endpoint and a local image; its outputs are replaced by `output`. */
  request: ImageRequest;
  regionSize: number;
  tilingStrategy: TilingStrategyName;
  quality: number;
  maxPayloadBytes: number;
  timeoutMs: number;
  maxRetries: number;
  /** Tile worker threads (default: the cores). */
  workers?: number;
  /** Regions worked on at once (default 2: the next region's reads overlap the last tiles of the one before). */
  concurrentRegions?: number;
}

export interface TileFailure {
  tile: string;
  error: string;
}

/** What the run saw, for the output's metadata and the command line's summary. */
export interface LocalRunState {
  imageId: string;
  prepared?: PreparedImage;
  plan?: TilingPlan;
  tiles: { total: number; succeeded: number; failed: number };
  failures: TileFailure[];
  /** Why the run stopped dispatching tiles early (see LocalRunHooks.stopReason). */
  stopped?: string;
}

export interface LocalRunHooks {
  onPlan?(state: LocalRunState): void;
  onTile?(state: LocalRunState): void;
  onWarning?(message: string): void;
  /** Checked before each tile: a reason stops the run (its output is then not written). */
  stopReason?(state: LocalRunState): string | null;
  /** Asked once every tile is done, before the output is written: a reason means no output (e.g. no tile succeeded). */
  finalReason?(state: LocalRunState): string | null;
  /** The run's output, written by the aggregation step in place of the request's outputs. */
  output(state: LocalRunState, request: ImageRequest, job: JobItem): Sink;
  /** Where the handlers' metrics go (tests); default nowhere: a local run has no CloudWatch to feed. */
  metrics?: Metrics;
}

export interface LocalRunResult {
  state: LocalRunState;
  /** The job as the handlers left it: status, message, feature counts, output outcomes. */
  job: JobItem;
  status: ImageStatus;
  /** True when the aggregation wrote the output. */
  outputWritten: boolean;
  seconds: number;
}

const LOCAL_QUEUES = { image: 'local://image-queue', region: 'local://region-queue', imageDlq: 'local://image-dlq', regionDlq: 'local://region-dlq' };

/** The service configuration of a local run: no AWS, no throttling, one delivery per message (a failure is recorded, not retried). */
export function localServiceConfig(s: LocalRunSettings, workerThreads: number): ServiceConfig {
  return {
    aws: { region: 'local' },
    queues: { ...LOCAL_QUEUES },
    tables: { job: 'in-process job store', region: 'in-process region store', feature: 'in-process feature store' },
    topics: {},
    ttlDays: 1,
    regionSize: { width: s.regionSize, height: s.regionSize },
    tilingStrategy: s.tilingStrategy,
    workerThreads,
    concurrencyPerWorker: 8,
    concurrentRegions: s.concurrentRegions ?? 2,
    visibilityTimeoutSeconds: 3600,
    receiveWaitSeconds: 20,
    stopGraceMs: 30_000,
    maxDeliveries: 1,
    aggregationLeaseMs: 3_600_000,
    model: { timeoutMs: s.timeoutMs, maxRetries: s.maxRetries },
    tiles: { quality: s.quality, maxPayloadBytes: s.maxPayloadBytes },
    healthPort: 0,
    healthHost: '127.0.0.1',
    logLevel: process.env.TESSERA_LOG_LEVEL ?? 'silent',
    throttling: { ...DEFAULT_THROTTLING, enabled: false },
    // The user's own files: any local image, any output path.
    paths: LOCAL_RUN_PATHS,
  };
}

const noRemoteOutputs: SinkClients = {
  s3: () => {
    throw new Error('S3 outputs are written by tessera serve; tessera run writes a local file');
  },
  kinesis: () => {
    throw new Error('Kinesis outputs are written by tessera serve; tessera run writes a local file');
  },
};

export async function runLocal(settings: LocalRunSettings, hooks: LocalRunHooks): Promise<LocalRunResult> {
  const started = performance.now();
  const { request } = settings;
  const workers = settings.workers ?? availableParallelism();
  const config = localServiceConfig(settings, workers);
  // Handler logs are for the service; locally they are shown only when asked for (TESSERA_LOG_LEVEL=info ...).
  const logger: ServiceLogger = config.logLevel === 'silent' ? { ...silentLogger, debug: () => undefined } : pino({ level: config.logLevel }, pino.destination({ dest: 2, sync: true }));
  logger.info({ workers }, 'starting tile workers');
  const pool = new TilePool({ workers, concurrencyPerWorker: 8 });
  const state: LocalRunState = { imageId: imageIdOf(request), tiles: { total: 0, succeeded: 0, failed: 0 }, failures: [] };
  const imageQueue = new MemoryQueue(LOCAL_QUEUES.image);
  const regionQueue = new MemoryQueue(LOCAL_QUEUES.region);
  const imageDlq = new MemoryQueue(LOCAL_QUEUES.imageDlq);
  const jobs = new MemoryJobStore();
  // Features wait for aggregation in a temporary file, not in memory: memory does not grow with their number.
  const features = new MemoryFeatureStore({ spillDir: tmpdir() });
  const ctx: ServiceContext = {
    config,
    jobs,
    regions: new MemoryRegionStore(),
    features,
    regionQueue,
    imageQueue,
    imageDlq,
    regionDlq: new MemoryQueue(LOCAL_QUEUES.regionDlq),
    status: new StatusPublisher({ logger: silentLogger }),
    metrics: hooks.metrics ?? new Metrics({ disabled: true }),
    pool,
    logger,
    owner: `local:${process.pid}`,
    sinkClients: noRemoteOutputs,
    rasterInfo: new Map(),
    readResources: new ReadResources(),
    observer: {
      imagePlanned: ({ prepared, plan, tileCount }) => {
        state.prepared = prepared;
        state.plan = plan;
        state.tiles.total = tileCount;
        for (const w of prepared.warnings) hooks.onWarning?.(w);
        hooks.onPlan?.(state);
      },
      tileSucceeded: () => {
        state.tiles.succeeded++;
        hooks.onTile?.(state);
      },
      tileFailed: ({ tile, error }) => {
        state.tiles.failed++;
        // The tile label already opens most messages ("(row, col)(w, h): ...", "tile (row, col)(w, h): ..."); do not repeat it.
        const label = [`${tile}: `, `tile ${tile}: `].find((prefix) => error.startsWith(prefix));
        state.failures.push({ tile, error: label ? error.slice(label.length) : error });
        hooks.onTile?.(state);
      },
      stopReason: () => (state.stopped ??= hooks.stopReason?.(state) ?? undefined) ?? null,
      // Asked once more at the end (the last tiles may have decided it). A stopped run writes nothing: no sinks
      // makes the job FAILED.
      sinksFor: (req, job) => {
        state.stopped ??= hooks.stopReason?.(state) ?? hooks.finalReason?.(state) ?? undefined;
        return state.stopped ? [] : [hooks.output(state, req, job)];
      },
    },
  };

  const { imageWorker, regionWorker } = createHandlerWorkers(ctx, { image: imageQueue, region: regionQueue }, { logger });
  let job: JobItem | undefined;
  try {
    imageWorker.start();
    regionWorker.start();
    await imageQueue.send(request);
    job = await jobEnd(jobs, state.imageId, pool, imageDlq);
  } finally {
    await Promise.all([imageWorker.stop(), regionWorker.stop()]);
    await ctx.readResources.close();
    await pool.destroy();
    features.close();
  }
  const outcomes = typeof job.output_outcomes === 'string' ? (JSON.parse(job.output_outcomes) as Array<{ ok: boolean }>) : [];
  return {
    state,
    job,
    status: job.image_status ?? 'FAILED',
    outputWritten: outcomes.length > 0 && outcomes.every((o) => o.ok),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Resolves with the job once it has ended (every path through the handlers ends it, but a request rejected before
 * its job exists, which is dead-lettered instead); rejects if the tile pool dies.
 */
function jobEnd(jobs: MemoryJobStore, imageId: string, pool: TilePool, imageDlq: MemoryQueue): Promise<JobItem> {
  return new Promise<JobItem>((resolve, reject) => {
    const timer = setInterval(() => {
      void jobs.get(imageId).then((job) => {
        const rejected = job ? undefined : imageDlq.peek()[0];
        if (job?.end_time !== undefined) {
          clearInterval(timer);
          resolve(job);
        } else if (rejected) {
          clearInterval(timer);
          reject(new JobInputError(rejected.attributes.reason ?? 'the image request was rejected'));
        } else if (pool.fatal) {
          clearInterval(timer);
          reject(pool.fatal);
        }
      }, reject);
    }, 20);
  });
}
