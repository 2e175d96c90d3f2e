/**
 * `tessera serve`: the queue-driven model runner. One tile worker pool for the process; the image and region
 * handlers on the SQS queues (handler-workers.ts: region work first, as OSML); `GET /health` on TESSERA_HEALTH_HOST
 * (127.0.0.1 unless a container sets 0.0.0.0 for its probe); graceful stop (stop taking work, finish or hand back
 * in-flight messages, flush metrics).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { pino } from 'pino';
import { errorDetails } from '../aws/logger.js';
import type { AwsClients } from '../aws/clients.js';
import { ConfigError, type ServiceConfig } from './config.js';
import { closeServiceContext, createServiceContext, type ServiceContext, type ServiceLogger } from './context.js';
import { createHandlerWorkers, WorkGate } from './handler-workers.js';

export { WorkGate } from './handler-workers.js';

export function createServiceLogger(level = 'info'): ServiceLogger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}

export interface HealthReport {
  status: 'ok' | 'unavailable' | 'stopping';
  checks: Record<string, string>;
  inFlight: { region: number; image: number };
}

export interface Service {
  ctx: ServiceContext & { clients: AwsClients };
  healthUrl: string;
  health(): Promise<HealthReport>;
  /** Stops taking work, finishes or hands back in-flight messages, flushes metrics, closes everything. */
  stop(): Promise<void>;
  /** Resolves when the service stopped by itself (a fatal error), with the exit code to use. */
  fatal: Promise<number>;
}

export interface ServiceOptions {
  logger?: ServiceLogger;
  metricsWrite?: (line: string) => void;
}

export async function startService(config: ServiceConfig, options: ServiceOptions = {}): Promise<Service> {
  const logger = options.logger ?? createServiceLogger(config.logLevel);
  const ctx = createServiceContext(config, logger, options.metricsWrite ? { metricsWrite: options.metricsWrite } : {});
  try {
    await checkRedrivePolicies(ctx, logger);
  } catch (err) {
    await closeServiceContext(ctx);
    throw err;
  }
  const { gate, regionWorker, imageWorker } = createHandlerWorkers(ctx, { image: ctx.imageQueue, region: ctx.regionQueue }, { afterMessage: () => void ctx.metrics.flush().catch(() => undefined), logger });

  let stopping: Promise<void> | undefined;
  let checked: { at: number; report: Promise<HealthReport> } | undefined;
  const health = (): Promise<HealthReport> => {
    if (stopping) return Promise.resolve({ status: 'stopping', checks: {}, inFlight: { ...gate.active } });
    if (checked && Date.now() - checked.at < 2000) return checked.report;
    checked = { at: Date.now(), report: runHealthChecks(ctx, gate) };
    return checked.report;
  };

  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/health' || req.url === '/health/')) {
      void health().then((report) => {
        res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(report));
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found: GET /health' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`health port ${config.healthPort} on ${config.healthHost}: ${(err as Error).message}`)));
    server.listen(config.healthPort, config.healthHost, () => resolve());
  }).catch(async (err) => {
    await closeServiceContext(ctx);
    throw err;
  });
  const healthUrl = healthUrlOf(server.address() as AddressInfo);

  const metricsTimer = setInterval(() => void ctx.metrics.flush().catch(() => undefined), 10_000);
  metricsTimer.unref();

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ inFlight: { ...gate.active }, graceSeconds: config.stopGraceMs / 1000 }, 'stopping: no new work; finishing or handing back in-flight messages');
      clearInterval(metricsTimer);
      await Promise.all([regionWorker.stop(), imageWorker.stop()]);
      await ctx.metrics.flush().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeServiceContext(ctx);
      logger.info({}, 'stopped');
    })();
    return stopping;
  };

  let fatalExit!: (code: number) => void;
  const fatal = new Promise<number>((resolve) => (fatalExit = resolve));
  ctx.pool.onFatal((err) => {
    logger.error({ ...errorDetails(err) }, 'tile worker pool failed: stopping the service');
    void stop().finally(() => fatalExit(1));
  });

  regionWorker.start();
  imageWorker.start();
  logger.info({
    health: healthUrl,
    imageQueue: config.queues.image,
    regionQueue: config.queues.region,
    workerThreads: config.workerThreads,
    tilesInFlight: config.workerThreads * config.concurrencyPerWorker,
    concurrentRegions: config.concurrentRegions,
    regionSize: `(${config.regionSize.width}, ${config.regionSize.height})`,
  }, 'tessera serve ready');
  return { ctx, healthUrl, health, stop, fatal };
}

/** A URL a local client can use: a wildcard bind (0.0.0.0, ::) is reached on loopback. */
function healthUrlOf(address: AddressInfo): string {
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `http://${address.family === 'IPv6' || host.includes(':') ? `[${host}]` : host}:${address.port}/health`;
}

/**
 * The queues /health checks, with their environment names where they are work queues (the queues whose deliveries
 * TESSERA_MAX_DELIVERIES counts, checked against their redrive policy).
 */
function checkedQueues(config: ServiceConfig): [check: string, env: string | undefined, url: string][] {
  return [
    ['image_queue', 'IMAGE_QUEUE', config.queues.image],
    ['region_queue', 'REGION_QUEUE', config.queues.region],
    ['image_dlq', undefined, config.queues.imageDlq],
  ];
}

/** The work queues with their environment names. */
function workQueues(config: ServiceConfig): [env: string, url: string][] {
  return checkedQueues(config).flatMap(([, env, url]) => (env ? [[env, url] as [string, string]] : []));
}

/**
 * A queue whose redrive policy moves a message to its dead-letter queue after fewer receives than
 * TESSERA_MAX_DELIVERIES: SQS takes the message away before the delivery that would record the job or region as
 * FAILED, so the job never ends. Undefined when there is no policy or it leaves enough deliveries.
 */
export function redriveProblem(envName: string, redrivePolicy: string | undefined, maxDeliveries: number): string | undefined {
  if (!redrivePolicy) return undefined;
  let maxReceiveCount: number;
  try {
    maxReceiveCount = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
  } catch {
    return undefined;
  }
  if (!Number.isFinite(maxReceiveCount) || maxReceiveCount >= maxDeliveries) return undefined;
  return `${envName}: its redrive policy moves a message to the dead-letter queue after ${maxReceiveCount} receive${maxReceiveCount === 1 ? '' : 's'} (maxReceiveCount), fewer than TESSERA_MAX_DELIVERIES=${maxDeliveries}, so a failing job would be taken away before it is recorded as FAILED and never end: set TESSERA_MAX_DELIVERIES to at most ${maxReceiveCount} or raise maxReceiveCount`;
}

/**
 * At start: the work queues' redrive policies against TESSERA_MAX_DELIVERIES (a ConfigError, as config.ts reports
 * problems). A queue that does not answer yet is not a reason not to start: it is logged, and the health check,
 * which reads the policy too, reports it until it answers.
 */
async function checkRedrivePolicies(ctx: ServiceContext & { clients: AwsClients }, logger: ServiceLogger): Promise<void> {
  const problems: string[] = [];
  await Promise.all(workQueues(ctx.config).map(async ([name, url]) => {
    try {
      const { Attributes } = await ctx.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] }), { abortSignal: AbortSignal.timeout(5000) });
      const problem = redriveProblem(name, Attributes?.RedrivePolicy, ctx.config.maxDeliveries);
      if (problem) problems.push(problem);
    } catch (err) {
      logger.warn({ queue: url, ...errorDetails(err) }, `${name}: could not read its redrive policy at start (the health check reports the queue)`);
    }
  }));
  if (problems.length) throw new ConfigError(problems.sort());
}

async function runHealthChecks(ctx: ServiceContext & { clients: AwsClients }, gate: WorkGate): Promise<HealthReport> {
  const checks: Record<string, string> = {};
  const timeout = () => ({ abortSignal: AbortSignal.timeout(3000) });
  const queues = checkedQueues(ctx.config);
  const tables = { job_table: ctx.config.tables.job, region_table: ctx.config.tables.region, feature_table: ctx.config.tables.feature };
  await Promise.all([
    ...queues.map(async ([name, env, url]) => {
      try {
        const { Attributes } = await ctx.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'RedrivePolicy'] }), timeout());
        // A work queue that answers but would dead-letter jobs before they fail is not ready either.
        checks[name] = (env && redriveProblem(env, Attributes?.RedrivePolicy, ctx.config.maxDeliveries)) || 'ok';
      } catch (err) {
        checks[name] = errorDetails(err).error;
      }
    }),
    ...Object.entries(tables).map(async ([name, table]) => {
      try {
        const { Table } = await ctx.clients.dynamodb.send(new DescribeTableCommand({ TableName: table }), timeout());
        checks[name] = Table?.TableStatus === 'ACTIVE' || Table?.TableStatus === 'UPDATING' ? 'ok' : `table ${table} is ${Table?.TableStatus}`;
      } catch (err) {
        checks[name] = errorDetails(err).error;
      }
    }),
  ]);
  checks.tile_workers = ctx.pool.fatal ? ctx.pool.fatal.message : 'ok';
  const ok = Object.values(checks).every((v) => v === 'ok');
  return { status: ok ? 'ok' : 'unavailable', checks, inFlight: { ...gate.active } };
}
