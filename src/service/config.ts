/**
 * `tessera serve` configuration, read once at start from OSML's environment variables (reference §9) plus Tessera's
 * own (TESSERA_*). Every problem is collected and reported together, one clear line each, before any work starts:
 * a service that fails at its first message because of a typo in its task definition is worse than one that does
 * not start.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ENDPOINT_ENV, type AwsConfig, type AwsService } from '../aws/clients.js';
import type { TableNames } from '../state/table-names.js';
import { DEFAULT_TTL_DAYS } from '../state/ttl.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../encoding/tile-encoding.js';
import { MAX_MODEL_ATTEMPTS } from '../detectors/retry-policy.js';
import { DEFAULT_THROTTLING, parseInstanceCounts, type ThrottlingConfig } from './endpoint-capacity.js';
import { TILING_STRATEGIES, type Size, type TilingStrategyName } from '../tiling/index.js';
import { defaultServiceDrivers, GDAL_DRIVERS_SETTING, parseDriverList } from '../raster/gdal-drivers.js';
import { FILE_OUTPUT_DIR_SETTING, HTTP_MODEL_URLS_SETTING, IMAGE_DIR_SETTING, parseModelUrlPrefixes, servicePaths, type RequestPaths } from '../api/request-paths.js';
import { MAX_CONCURRENT_REGIONS, MAX_TILES_IN_FLIGHT, MAX_TIMER_SECONDS, MAX_WORKER_THREADS, WORKER_THREADS_PER_CORE, maxWorkerThreads } from '../util/limits.js';

export interface ServiceConfig {
  aws: AwsConfig;
  queues: {
    /** IMAGE_QUEUE (URL) */
    image: string;
    /** REGION_QUEUE (URL) */
    region: string;
    /** IMAGE_DLQ (URL): invalid image requests and failed jobs go here with the reason. */
    imageDlq: string;
    /** REGION_DLQ (URL, optional): malformed region messages go here. */
    regionDlq?: string;
  };
  tables: TableNames;
  topics: { image?: string; region?: string };
  /** DDB_TTL_IN_DAYS */
  ttlDays: number;
  /** REGION_SIZE: nominal region size. */
  regionSize: Size;
  /** TESSERA_TILING_STRATEGY (default variable-overlap, OSML's). */
  tilingStrategy: TilingStrategyName;
  /** Tile worker threads (TESSERA_WORKER_THREADS; default the cores, at most WORKERS and maxWorkerThreads()). */
  workerThreads: number;
  /** Concurrent tiles per worker thread, so that threads × this ≈ WORKERS (OSML: tile workers per container). */
  concurrencyPerWorker: number;
  /** Region messages (including an image message's first region) handled at once (TESSERA_CONCURRENT_REGIONS, default 1 as OSML). */
  concurrentRegions: number;
  /** Invisibility given to a received message and renewed by the heartbeat while it is worked on. */
  visibilityTimeoutSeconds: number;
  /** SQS long-poll seconds. */
  receiveWaitSeconds: number;
  /** How long SIGTERM waits for in-flight messages before handing them back. */
  stopGraceMs: number;
  /** Deliveries of a message after which a failure is recorded (job/region FAILED) instead of retried. */
  maxDeliveries: number;
  aggregationLeaseMs: number;
  model: { timeoutMs: number; maxRetries: number };
  tiles: { quality: number; maxPayloadBytes: number };
  /** TESSERA_HEALTH_PORT (0: any free port, printed at start). */
  healthPort: number;
  /** TESSERA_HEALTH_HOST: address the health endpoint binds to (127.0.0.1; containers set 0.0.0.0 for their probes). */
  healthHost: string;
  logLevel: string;
  /** Capacity-based admission of image jobs per endpoint (OSML NEW §11.4); on only with an ENDPOINT_TABLE. */
  throttling: ThrottlingConfig;
  /**
   * Local files a request may read (TESSERA_LOCAL_IMAGE_DIR) and write (TESSERA_FILE_OUTPUT_DIR), and the HTTP model
   * URLs it may make the service call (TESSERA_HTTP_MODEL_URLS); see request-paths.ts.
   */
  paths: RequestPaths;
  /** TESSERA_GDAL_DRIVERS: the only GDAL drivers request images are opened with (gdal-drivers.ts); absent (tessera run): any. */
  gdalDrivers?: readonly string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`configuration: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_REGION_SIZE: Size = { width: 10240, height: 10240 };
export const DEFAULT_HEALTH_PORT = 8090;
/** Loopback only unless asked: a development machine's health endpoint is not for the network. */
export const DEFAULT_HEALTH_HOST = '127.0.0.1';

/** "(w, h)", "[w, h]", "w,h" or a single number (square). */
export function parseRegionSize(text: string): Size | null {
  const t = text.trim();
  const single = /^\d+$/.exec(t);
  if (single) {
    const n = Number(t);
    return { width: n, height: n };
  }
  const m = /^[([]?\s*(\d+)\s*,\s*(\d+)\s*[)\]]?$/.exec(t);
  if (!m) return null;
  const open = t[0], close = t[t.length - 1];
  if ((open === '(' && close !== ')') || (open === '[' && close !== ']') || (close === ')' && open !== '(') || (close === ']' && open !== '[')) return null;
  return { width: Number(m[1]), height: Number(m[2]) };
}

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const required = (name: string, what: string) => {
    const v = get(name);
    if (!v) problems.push(`${name} is not set (${what})`);
    return v ?? '';
  };
  const url = (name: string, value: string | undefined) => {
    if (!value) return value;
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      problems.push(`${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const int = (name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER, why?: string) => {
    const raw = get(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}${why ? ` (${why})` : ''}, got ${JSON.stringify(raw)}`);
      return def;
    }
    return n;
  };
  const num = (name: string, def: number, min: number, exclusiveMin = false, max = Infinity, why?: string) => {
    const raw = get(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || (exclusiveMin ? n <= min : n < min) || n > max) {
      problems.push(`${name} must be a number ${exclusiveMin ? '>' : '>='} ${min}${max !== Infinity ? ` and at most ${max}${why ? ` (${why})` : ''}` : ''}, got ${JSON.stringify(raw)}`);
      return def;
    }
    return n;
  };
  /** Seconds that end up in a Node timer: at most a day (MAX_TIMER_SECONDS; beyond 2^31-1 ms a timer fires at once). */
  const seconds = (name: string, def: number, min: number, exclusiveMin = false) => num(name, def, min, exclusiveMin, MAX_TIMER_SECONDS, '24 h');

  // AWS: region and per-service endpoints (the dev stack sets TESSERA_*_ENDPOINT).
  const region = get('AWS_REGION') ?? get('AWS_DEFAULT_REGION');
  if (!region) problems.push('AWS_DEFAULT_REGION (or AWS_REGION) is not set');
  const endpoints: Partial<Record<AwsService, string>> = {};
  for (const [service, name] of Object.entries(ENDPOINT_ENV) as [AwsService, string][]) {
    const v = url(name, get(name));
    if (v) endpoints[service] = v;
  }

  const queueUrl = (name: string, what: string, optional = false) => {
    const v = optional ? get(name) : required(name, what);
    return v ? url(name, v) : v;
  };
  const image = queueUrl('IMAGE_QUEUE', 'URL of the image request queue') ?? '';
  const regionQueue = queueUrl('REGION_QUEUE', 'URL of the region request queue') ?? '';
  const imageDlq = queueUrl('IMAGE_DLQ', 'URL of the image dead-letter queue') ?? '';
  const regionDlq = queueUrl('REGION_DLQ', '', true);

  const job = get('JOB_TABLE') ?? get('IMAGE_REQUEST_TABLE');
  if (!job) problems.push('JOB_TABLE (or IMAGE_REQUEST_TABLE) is not set (name of the job table)');
  const regionTable = required('REGION_REQUEST_TABLE', 'name of the region table');
  const featureTable = required('FEATURE_TABLE', 'name of the feature table');

  const topic = (name: string) => {
    const v = get(name);
    if (v && !/^arn:[^:]*:sns:/.test(v)) problems.push(`${name} must be an SNS topic ARN (arn:aws:sns:...), got ${JSON.stringify(v)}`);
    return v;
  };
  const imageTopic = topic('IMAGE_STATUS_TOPIC');
  const regionTopic = topic('REGION_STATUS_TOPIC');

  const ttlDays = num('DDB_TTL_IN_DAYS', DEFAULT_TTL_DAYS, 0, true);

  let regionSize = DEFAULT_REGION_SIZE;
  const rawRegion = get('REGION_SIZE');
  if (rawRegion !== undefined) {
    const parsed = parseRegionSize(rawRegion);
    if (!parsed || parsed.width < 1 || parsed.height < 1) problems.push(`REGION_SIZE must be "(width, height)" or one number of pixels, got ${JSON.stringify(rawRegion)}`);
    else regionSize = parsed;
  }

  const strategyRaw = get('TESSERA_TILING_STRATEGY') ?? 'variable-overlap';
  const tilingStrategy = TILING_STRATEGIES.find((s) => s === strategyRaw.toLowerCase());
  if (!tilingStrategy) problems.push(`TESSERA_TILING_STRATEGY must be one of ${TILING_STRATEGIES.join(', ')}, got ${JSON.stringify(strategyRaw)}`);

  // WORKERS is OSML's number of tile workers per container, each with one model call in flight: here it is the
  // number of tiles in flight, spread over worker threads (CPU work) that each run several tiles at once.
  const cores = availableParallelism();
  const maxThreads = maxWorkerThreads(cores);
  const defaultThreads = Math.min(Math.max(1, cores), maxThreads);
  const workers = int('WORKERS', Math.min(defaultThreads * 8, MAX_TILES_IN_FLIGHT), 1, MAX_TILES_IN_FLIGHT);
  const threads = Math.min(int('TESSERA_WORKER_THREADS', defaultThreads, 1, maxThreads, `${WORKER_THREADS_PER_CORE} × the ${cores} cores, at most ${MAX_WORKER_THREADS}`), workers);
  const concurrencyPerWorker = Math.max(1, Math.ceil(workers / threads));

  const visibilityTimeoutSeconds = int('TESSERA_VISIBILITY_TIMEOUT_SECONDS', 60, 2, 43_200);
  const receiveWaitSeconds = int('TESSERA_RECEIVE_WAIT_SECONDS', 20, 0, 20);
  const stopGraceMs = seconds('TESSERA_STOP_GRACE_SECONDS', 30, 0) * 1000;
  const maxDeliveries = int('TESSERA_MAX_DELIVERIES', 3, 1);
  const aggregationLeaseMs = seconds('TESSERA_AGGREGATION_LEASE_SECONDS', 120, 1) * 1000;
  const concurrentRegions = int('TESSERA_CONCURRENT_REGIONS', 1, 1, MAX_CONCURRENT_REGIONS);

  const timeoutMs = seconds('TESSERA_MODEL_TIMEOUT_SECONDS', 60, 0, true) * 1000;
  // The SageMaker detector makes at most MAX_MODEL_ATTEMPTS attempts: a larger value is refused rather than capped in silence.
  const maxRetries = int('TESSERA_MODEL_RETRIES', 5, 0, MAX_MODEL_ATTEMPTS - 1, `at most ${MAX_MODEL_ATTEMPTS} model attempts per tile`);
  const quality = int('TESSERA_TILE_QUALITY', 90, 1, 100);
  const maxPayloadBytes = Math.round(num('TESSERA_MAX_PAYLOAD_MB', DEFAULT_MAX_PAYLOAD_BYTES / 2 ** 20, 0) * 2 ** 20);
  const healthPort = int('TESSERA_HEALTH_PORT', DEFAULT_HEALTH_PORT, 0, 65_535);
  const healthHost = get('TESSERA_HEALTH_HOST') ?? DEFAULT_HEALTH_HOST;
  if (!isIP(healthHost) && !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(healthHost)) {
    problems.push(`TESSERA_HEALTH_HOST must be an IP address or host name to bind the health endpoint to (0.0.0.0: every interface, for a container's probe), got ${JSON.stringify(healthHost)}`);
  }
  const logLevel = (get('TESSERA_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) problems.push(`TESSERA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got ${JSON.stringify(logLevel)}`);

  const bool = (name: string, def: boolean) => {
    const raw = get(name);
    if (raw === undefined) return def;
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false, got ${JSON.stringify(raw)}`);
    return def;
  };
  const instanceCountsRaw = get('TESSERA_SM_INSTANCE_COUNTS');
  const instanceCounts = instanceCountsRaw === undefined ? {} : parseInstanceCounts(instanceCountsRaw);
  if (instanceCounts === null) problems.push(`TESSERA_SM_INSTANCE_COUNTS must be "endpoint=count,...", got ${JSON.stringify(instanceCountsRaw)}`);
  const throttling: ThrottlingConfig = {
    enabled: bool('SCHEDULER_THROTTLING_ENABLED', DEFAULT_THROTTLING.enabled) && get('ENDPOINT_TABLE') !== undefined,
    httpEndpointConcurrency: int('DEFAULT_HTTP_ENDPOINT_CONCURRENCY', DEFAULT_THROTTLING.httpEndpointConcurrency, 1),
    instanceConcurrency: int('DEFAULT_INSTANCE_CONCURRENCY', DEFAULT_THROTTLING.instanceConcurrency, 1),
    instanceCounts: instanceCounts ?? {},
    tileWorkersPerInstance: int('TILE_WORKERS_PER_INSTANCE', DEFAULT_THROTTLING.tileWorkersPerInstance, 1),
    targetPercentage: num('CAPACITY_TARGET_PERCENTAGE', DEFAULT_THROTTLING.targetPercentage, 0, true),
    retrySeconds: int('TESSERA_THROTTLE_RETRY_SECONDS', DEFAULT_THROTTLING.retrySeconds, 0, 900),
    capacityCacheSeconds: int('TESSERA_SM_CAPACITY_CACHE_SECONDS', DEFAULT_THROTTLING.capacityCacheSeconds, 0, 86_400),
  };

  // Folders a request may read images from / write File outputs to: absolute, existing, kept as real paths.
  const folder = (name: string) => {
    const raw = get(name);
    if (raw === undefined) return undefined;
    if (!isAbsolute(raw)) {
      problems.push(`${name} must be an absolute path to a folder, got ${JSON.stringify(raw)}`);
      return undefined;
    }
    try {
      if (!statSync(raw).isDirectory()) throw new Error('not a folder');
      return realpathSync(raw);
    } catch (err) {
      problems.push(`${name} must be an existing folder, got ${JSON.stringify(raw)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
  };
  const imageDir = folder(IMAGE_DIR_SETTING);
  const fileOutputDir = folder(FILE_OUTPUT_DIR_SETTING);
  // GDAL drivers request images may be opened with: never one that can make GDAL read other files or URLs by default.
  const rawDrivers = get(GDAL_DRIVERS_SETTING);
  let gdalDrivers = defaultServiceDrivers();
  if (rawDrivers !== undefined) {
    const parsed = parseDriverList(rawDrivers);
    problems.push(...parsed.problems);
    gdalDrivers = parsed.drivers;
  }
  // URL prefixes HTTP_ENDPOINT models may have; unset: any (OSML).
  const rawModelUrls = get(HTTP_MODEL_URLS_SETTING);
  let httpModelUrls: string[] | undefined;
  if (rawModelUrls !== undefined) {
    const parsed = parseModelUrlPrefixes(rawModelUrls);
    problems.push(...parsed.problems);
    httpModelUrls = parsed.prefixes;
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    aws: { region: region!, endpoints },
    queues: { image, region: regionQueue, imageDlq, ...(regionDlq ? { regionDlq } : {}) },
    tables: {
      job: job!,
      region: regionTable,
      feature: featureTable,
      ...(get('ENDPOINT_TABLE') ? { endpoint: get('ENDPOINT_TABLE') } : {}),
      ...(get('OUTSTANDING_JOBS_TABLE') ?? get('OUTSTANDING_IMAGE_REQUEST_TABLE') ? { outstanding: get('OUTSTANDING_JOBS_TABLE') ?? get('OUTSTANDING_IMAGE_REQUEST_TABLE') } : {}),
    },
    topics: { ...(imageTopic ? { image: imageTopic } : {}), ...(regionTopic ? { region: regionTopic } : {}) },
    ttlDays,
    regionSize,
    tilingStrategy: tilingStrategy!,
    workerThreads: threads,
    concurrencyPerWorker,
    concurrentRegions,
    visibilityTimeoutSeconds,
    receiveWaitSeconds,
    stopGraceMs,
    maxDeliveries,
    aggregationLeaseMs,
    model: { timeoutMs, maxRetries },
    tiles: { quality, maxPayloadBytes },
    healthPort,
    healthHost,
    logLevel,
    throttling,
    paths: servicePaths({ ...(imageDir ? { imageDir } : {}), ...(fileOutputDir ? { fileOutputDir } : {}), ...(httpModelUrls ? { httpModelUrls } : {}) }),
    gdalDrivers,
  };
}
