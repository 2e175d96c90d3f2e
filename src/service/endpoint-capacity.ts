/**
 * Capacity-based admission of image jobs per model endpoint (OSML NEW's scheduler throttling, reference §11.4).
 *
 * - capacity of an endpoint (concurrent model calls it takes): HTTP → DEFAULT_HTTP_ENDPOINT_CONCURRENCY (10);
 *   SageMaker (`SageMakerCapacity`, as OSML's EndpointCapacityEstimator) → from DescribeEndpoint, summed over the
 *   production variants: a serverless variant counts its CurrentServerlessConfig.MaxConcurrency, an instance-backed
 *   one CurrentInstanceCount × per-instance concurrency, which is the endpoint's `osml:instance-concurrency` tag
 *   (ListTags on the endpoint ARN) or DEFAULT_INSTANCE_CONCURRENCY (2). Read once per endpoint per
 *   TESSERA_SM_CAPACITY_CACHE_SECONDS (300, OSML's cache TTL). When the SageMaker API fails (no permission, network),
 *   the last value read is kept, or with none 1 instance × DEFAULT_INSTANCE_CONCURRENCY, with a warning: a capacity
 *   lookup never fails a job. An endpoint listed in TESSERA_SM_INSTANCE_COUNTS="endpoint=count,..." is not looked up:
 *   count × DEFAULT_INSTANCE_CONCURRENCY (`ConfiguredCapacity`, also the estimator when none is given);
 * - Tessera admits per endpoint, not per variant as OSML NEW does (it pins each job to a variant), so a
 *   multi-variant endpoint's capacity is the sum of its variants' (OSML's estimate with no variant named);
 * - target = floor(capacity × CAPACITY_TARGET_PERCENTAGE); load of a job = region_count × TILE_WORKERS_PER_INSTANCE;
 * - a job starts if used + load ≤ target, or if no other job runs on the endpoint (single-job exception).
 *
 * State: one item per endpoint in ENDPOINT_TABLE (key `endpoint`, OSML OLD's EndpointStatisticsTable) holding the
 * running jobs (image id → load) and a version number, plus OSML's attributes for its dashboards, in the unit its
 * admission works in (a region of a job is TILE_WORKERS_PER_INSTANCE load): `regions_in_progress` = the regions of
 * the jobs admitted and running on the endpoint, `max_regions` = the regions its target capacity takes at once. Admission and release are compare-and-swap writes on that version (read, decide, conditional
 * put; retry on conflict), so two containers can never both take the last capacity. Entries of jobs that have
 * ended (or whose job item is gone) are pruned when they would block a job, so a crash that skipped a release
 * never leaks capacity for longer than the end of that job.
 */
import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeEndpointCommand, ListTagsCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { errorDetails, silentLogger, type AwsLogger } from '../aws/logger.js';
import type { JobTable } from '../state/job-table.js';
import { expireTime, TTL_ATTRIBUTE } from '../state/ttl.js';

export interface ThrottlingConfig {
  /** SCHEDULER_THROTTLING_ENABLED (default true) and an ENDPOINT_TABLE to keep the running load in. */
  enabled: boolean;
  /** DEFAULT_HTTP_ENDPOINT_CONCURRENCY (10). */
  httpEndpointConcurrency: number;
  /** DEFAULT_INSTANCE_CONCURRENCY (2, min 1). */
  instanceConcurrency: number;
  /** TESSERA_SM_INSTANCE_COUNTS: instances of SageMaker endpoints given explicitly (not looked up); 1 is the fallback for others. */
  instanceCounts: Record<string, number>;
  /** TILE_WORKERS_PER_INSTANCE (4, min 1). */
  tileWorkersPerInstance: number;
  /** CAPACITY_TARGET_PERCENTAGE (1.0, > 0). */
  targetPercentage: number;
  /** TESSERA_THROTTLE_RETRY_SECONDS: delay before a throttled request is looked at again (10; OSML's THROTTLING_RETRY_TIMEOUT). */
  retrySeconds: number;
  /** TESSERA_SM_CAPACITY_CACHE_SECONDS: how long a SageMaker endpoint's capacity is kept before it is read again (300, as OSML; 0: every time). */
  capacityCacheSeconds: number;
}

export const DEFAULT_THROTTLING: ThrottlingConfig = {
  enabled: true,
  httpEndpointConcurrency: 10,
  instanceConcurrency: 2,
  instanceCounts: {},
  tileWorkersPerInstance: 4,
  targetPercentage: 1.0,
  retrySeconds: 10,
  capacityCacheSeconds: 300,
};

/** Concurrent model calls an endpoint takes. */
export interface CapacityEstimator {
  capacity(invokeMode: string, endpointName: string): Promise<number>;
}

/** Capacity from configuration alone (no SageMaker control-plane calls): TESSERA_SM_INSTANCE_COUNTS or 1 instance. */
export class ConfiguredCapacity implements CapacityEstimator {
  constructor(private readonly config: ThrottlingConfig) {}
  async capacity(invokeMode: string, endpointName: string): Promise<number> {
    if (invokeMode === 'HTTP_ENDPOINT') return this.config.httpEndpointConcurrency;
    return (this.config.instanceCounts[endpointName] ?? 1) * this.config.instanceConcurrency;
  }
}

/** The endpoint tag giving the concurrent requests one instance takes (OSML's name). */
export const INSTANCE_CONCURRENCY_TAG = 'osml:instance-concurrency';

/** OSML's cache size for endpoint metadata; the oldest entry goes first. */
const MAX_CACHED_ENDPOINTS = 100;

interface CachedCapacity {
  /** Shared by concurrent lookups of the same endpoint: one DescribeEndpoint for all of them. */
  value: Promise<number>;
  expires: number;
  /** The last capacity read from SageMaker (kept when a later lookup fails). */
  known?: number;
}

/**
 * Capacity of SageMaker endpoints from the control plane (DescribeEndpoint + ListTags), cached per endpoint;
 * HTTP endpoints and endpoints listed in TESSERA_SM_INSTANCE_COUNTS from configuration. Never throws.
 */
export class SageMakerCapacity implements CapacityEstimator {
  private readonly configured: ConfiguredCapacity;
  private readonly cache = new Map<string, CachedCapacity>();

  constructor(
    private readonly sagemaker: Pick<SageMakerClient, 'send'>,
    private readonly config: ThrottlingConfig,
    private readonly logger: AwsLogger = silentLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.configured = new ConfiguredCapacity(config);
  }

  async capacity(invokeMode: string, endpointName: string): Promise<number> {
    if (invokeMode !== 'SM_ENDPOINT' || Object.hasOwn(this.config.instanceCounts, endpointName)) {
      return this.configured.capacity(invokeMode, endpointName);
    }
    const now = this.now();
    const cached = this.cache.get(endpointName);
    if (cached && cached.expires > now) return cached.value;
    const entry: CachedCapacity = { value: Promise.resolve(0), expires: now + this.config.capacityCacheSeconds * 1000, known: cached?.known };
    entry.value = this.read(endpointName, entry);
    this.cache.delete(endpointName);
    this.cache.set(endpointName, entry);
    if (this.cache.size > MAX_CACHED_ENDPOINTS) this.cache.delete(this.cache.keys().next().value!);
    return entry.value;
  }

  private async read(endpoint: string, entry: CachedCapacity): Promise<number> {
    try {
      const capacity = await this.describe(endpoint);
      entry.known = capacity;
      return capacity;
    } catch (err) {
      const fallback = entry.known ?? (await this.configured.capacity('SM_ENDPOINT', endpoint));
      this.logger.warn(
        { endpoint, capacity: fallback, capacity_from: entry.known !== undefined ? 'last value read' : 'default (1 instance × DEFAULT_INSTANCE_CONCURRENCY)', next_lookup_seconds: this.config.capacityCacheSeconds, ...errorDetails(err) },
        'endpoint capacity: DescribeEndpoint failed, using a fallback capacity',
      );
      return fallback;
    }
  }

  private async describe(endpoint: string): Promise<number> {
    const d = await this.sagemaker.send(new DescribeEndpointCommand({ EndpointName: endpoint }));
    const variants = d.ProductionVariants ?? [];
    const instanceBacked = variants.some((v) => !v.CurrentServerlessConfig);
    const perInstance = instanceBacked ? await this.instanceConcurrency(endpoint, d.EndpointArn) : this.config.instanceConcurrency;
    let capacity = 0;
    for (const v of variants) {
      capacity += v.CurrentServerlessConfig ? (v.CurrentServerlessConfig.MaxConcurrency ?? 0) : (v.CurrentInstanceCount ?? 0) * perInstance;
    }
    return capacity;
  }

  /** The endpoint's `osml:instance-concurrency` tag, else DEFAULT_INSTANCE_CONCURRENCY (also when ListTags fails). */
  private async instanceConcurrency(endpoint: string, arn: string | undefined): Promise<number> {
    const fallback = this.config.instanceConcurrency;
    if (!arn) return fallback;
    let value: string | undefined;
    try {
      let token: string | undefined;
      do {
        const page = await this.sagemaker.send(new ListTagsCommand({ ResourceArn: arn, MaxResults: 100, ...(token ? { NextToken: token } : {}) }));
        value = page.Tags?.find((t) => t.Key === INSTANCE_CONCURRENCY_TAG)?.Value;
        token = page.NextToken;
      } while (value === undefined && token);
    } catch (err) {
      this.logger.warn({ endpoint, endpoint_arn: arn, instance_concurrency: fallback, ...errorDetails(err) }, 'endpoint capacity: ListTags failed, using DEFAULT_INSTANCE_CONCURRENCY');
      return fallback;
    }
    if (value === undefined) return fallback;
    if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1) {
      this.logger.warn({ endpoint, tag: INSTANCE_CONCURRENCY_TAG, value, instance_concurrency: fallback }, 'endpoint capacity: tag is not a positive integer, using DEFAULT_INSTANCE_CONCURRENCY');
      return fallback;
    }
    return Number(value);
  }
}

export function targetLoad(capacity: number, config: Pick<ThrottlingConfig, 'targetPercentage'>): number {
  return Math.floor(capacity * config.targetPercentage);
}

export function jobLoad(regionCount: number, config: Pick<ThrottlingConfig, 'tileWorkersPerInstance'>): number {
  return Math.max(1, regionCount) * config.tileWorkersPerInstance;
}

/** `"a=2, b=3"` → `{ a: 2, b: 3 }`; null when malformed. */
export function parseInstanceCounts(text: string): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 0) return null;
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export interface RunningJob {
  imageId: string;
  jobId: string;
  load: number;
  /** The job's regions (its load is regions × TILE_WORKERS_PER_INSTANCE). */
  regions: number;
  admittedAt: number;
}

export interface AdmissionDecision {
  admitted: boolean;
  /** The job was already admitted (a redelivered request). */
  already: boolean;
  capacity: number;
  target: number;
  /** Load of the other jobs running on the endpoint. */
  used: number;
  load: number;
  others: number;
}

interface EndpointState {
  version: number | undefined;
  jobs: Map<string, RunningJob>;
  /** OSML's max_regions as last written. */
  maxRegions: number | undefined;
}

const MAX_CAS_ATTEMPTS = 20;

export class EndpointCapacity {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly table: string,
    private readonly jobs: Pick<JobTable, 'get'>,
    private readonly config: ThrottlingConfig,
    private readonly estimator: CapacityEstimator = new ConfiguredCapacity(config),
    private readonly ttlDays = 1,
  ) {}

  /** Admits the job on the endpoint (recording its load) or says it must wait. Idempotent per image id. */
  async admit(o: { endpoint: string; invokeMode: string; imageId: string; jobId: string; regionCount: number }): Promise<AdmissionDecision> {
    const capacity = await this.estimator.capacity(o.invokeMode, o.endpoint);
    const target = targetLoad(capacity, this.config);
    const load = jobLoad(o.regionCount, this.config);
    const maxRegions = Math.floor(target / this.config.tileWorkersPerInstance);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const state = await this.read(o.endpoint);
      const decision = (jobs: Map<string, RunningJob>, admitted: boolean, already = false): AdmissionDecision => {
        const others = [...jobs.values()].filter((j) => j.imageId !== o.imageId);
        return { admitted, already, capacity, target, used: others.reduce((s, j) => s + j.load, 0), load, others: others.length };
      };
      if (state.jobs.has(o.imageId)) return decision(state.jobs, true, true);
      let jobs = state.jobs;
      if (!fits(jobs, load, target)) {
        jobs = await this.withoutEnded(jobs);
        if (!fits(jobs, load, target)) {
          // Still no room: keep the pruning (if any) for the next look, but do not fight over it.
          if (jobs.size !== state.jobs.size) await this.write(o.endpoint, state.version, jobs, maxRegions).catch(ignoreConflict);
          return decision(jobs, false);
        }
      }
      const next = new Map(jobs).set(o.imageId, { imageId: o.imageId, jobId: o.jobId, load, regions: Math.max(1, o.regionCount), admittedAt: Date.now() });
      if (await this.write(o.endpoint, state.version, next, maxRegions).catch(ignoreConflict)) return decision(next, true);
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
    throw new Error(`endpoint ${o.endpoint}: could not record the admission after ${MAX_CAS_ATTEMPTS} conflicting writes`);
  }

  /** Takes the job's load off the endpoint (at the end of the job). Safe to call twice. */
  async release(endpoint: string, imageId: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const state = await this.read(endpoint);
      if (!state.jobs.has(imageId)) return;
      const next = new Map(state.jobs);
      next.delete(imageId);
      if (await this.write(endpoint, state.version, next, state.maxRegions).catch(ignoreConflict)) return;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
    throw new Error(`endpoint ${endpoint}: could not record the release after ${MAX_CAS_ATTEMPTS} conflicting writes`);
  }

  /** The jobs counted on an endpoint now. */
  async running(endpoint: string): Promise<RunningJob[]> {
    return [...(await this.read(endpoint)).jobs.values()];
  }

  private async withoutEnded(jobs: Map<string, RunningJob>): Promise<Map<string, RunningJob>> {
    const kept = new Map<string, RunningJob>();
    await Promise.all([...jobs.values()].map(async (j) => {
      const item = await this.jobs.get(j.imageId);
      if (item && item.end_time === undefined) kept.set(j.imageId, j);
    }));
    return kept;
  }

  private async read(endpoint: string): Promise<EndpointState> {
    const { Item } = await this.ddb.send(new GetItemCommand({ TableName: this.table, Key: { endpoint: { S: endpoint } }, ConsistentRead: true }));
    const jobs = new Map<string, RunningJob>();
    for (const [imageId, v] of Object.entries(Item?.running_jobs?.M ?? {})) {
      const m = v.M ?? {};
      const load = Number(m.load?.N ?? 0);
      // Entries written before `regions` was stored: their load says it.
      const regions = m.regions?.N !== undefined ? Number(m.regions.N) : Math.max(1, Math.round(load / this.config.tileWorkersPerInstance));
      jobs.set(imageId, { imageId, jobId: m.job_id?.S ?? '', load, regions, admittedAt: Number(m.admitted_at?.N ?? 0) });
    }
    return {
      version: Item?.capacity_version?.N !== undefined ? Number(Item.capacity_version.N) : undefined,
      jobs,
      maxRegions: Item?.max_regions?.N !== undefined ? Number(Item.max_regions.N) : undefined,
    };
  }

  /** Conditional put: only over the version read (or where no item was). False when another writer got there first. */
  private async write(endpoint: string, version: number | undefined, jobs: Map<string, RunningJob>, maxRegions: number | undefined): Promise<boolean> {
    const running: Record<string, AttributeValue> = {};
    for (const j of jobs.values()) running[j.imageId] = { M: { job_id: { S: j.jobId }, load: { N: String(j.load) }, regions: { N: String(j.regions) }, admitted_at: { N: String(j.admittedAt) } } };
    const load = [...jobs.values()].reduce((s, j) => s + j.load, 0);
    const regions = [...jobs.values()].reduce((s, j) => s + j.regions, 0);
    await this.ddb.send(new PutItemCommand({
      TableName: this.table,
      Item: {
        endpoint: { S: endpoint },
        capacity_version: { N: String((version ?? 0) + 1) },
        running_jobs: { M: running },
        running_load: { N: String(load) },
        // OSML's EndpointStatisticsTable attributes (reference §6.3).
        regions_in_progress: { N: String(regions) },
        ...(maxRegions !== undefined ? { max_regions: { N: String(maxRegions) } } : {}),
        [TTL_ATTRIBUTE]: { N: String(expireTime(Date.now(), this.ttlDays)) },
      },
      ...(version === undefined
        ? { ConditionExpression: 'attribute_not_exists(endpoint) OR attribute_not_exists(capacity_version)' }
        : { ConditionExpression: 'capacity_version = :v', ExpressionAttributeValues: { ':v': { N: String(version) } } }),
    }));
    return true;
  }
}

function fits(jobs: Map<string, RunningJob>, load: number, target: number): boolean {
  if (jobs.size === 0) return true; // single-job exception: a job alone on its endpoint always runs
  let used = 0;
  for (const j of jobs.values()) used += j.load;
  return used + load <= target;
}

function ignoreConflict(err: unknown): false {
  if (err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException') return false;
  throw err;
}
