/**
 * Capacity-based admission of image jobs per model endpoint (OSML NEW's scheduler throttling, reference §11.4).
 *
 * - capacity of an endpoint: HTTP → DEFAULT_HTTP_ENDPOINT_CONCURRENCY (10); SageMaker → instance count ×
 *   per-instance concurrency (DEFAULT_INSTANCE_CONCURRENCY, 2). The instance count comes from configuration
 *   (TESSERA_SM_INSTANCE_COUNTS="endpoint=count,...", default 1): DescribeEndpoint needs @aws-sdk/client-sagemaker,
 *   which this build does not ship (the `CapacityEstimator` seam is where a DescribeEndpoint/ListTags reader, with the
 *   `osml:instance-concurrency` tag, plugs in);
 * - target = floor(capacity × CAPACITY_TARGET_PERCENTAGE); load of a job = region_count × TILE_WORKERS_PER_INSTANCE;
 * - a job starts if used + load ≤ target, or if no other job runs on the endpoint (single-job exception).
 *
 * State: one item per endpoint in ENDPOINT_TABLE (key `endpoint`) holding the running jobs (image id → load) and a
 * version number. Admission and release are compare-and-swap writes on that version (read, decide, conditional
 * put; retry on conflict), so two containers can never both take the last capacity. Entries of jobs that have
 * ended (or whose job item is gone) are pruned when they would block a job, so a crash that skipped a release
 * never leaks capacity for longer than the end of that job.
 */
import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { JobTable } from '../state/job-table.js';
import { expireTime, TTL_ATTRIBUTE } from '../state/ttl.js';

export interface ThrottlingConfig {
  /** SCHEDULER_THROTTLING_ENABLED (default true) and an ENDPOINT_TABLE to keep the running load in. */
  enabled: boolean;
  /** DEFAULT_HTTP_ENDPOINT_CONCURRENCY (10). */
  httpEndpointConcurrency: number;
  /** DEFAULT_INSTANCE_CONCURRENCY (2, min 1). */
  instanceConcurrency: number;
  /** TESSERA_SM_INSTANCE_COUNTS: instances per SageMaker endpoint (default 1 each). */
  instanceCounts: Record<string, number>;
  /** TILE_WORKERS_PER_INSTANCE (4, min 1). */
  tileWorkersPerInstance: number;
  /** CAPACITY_TARGET_PERCENTAGE (1.0, > 0). */
  targetPercentage: number;
  /** TESSERA_THROTTLE_RETRY_SECONDS: delay before a throttled request is looked at again (10; OSML's THROTTLING_RETRY_TIMEOUT). */
  retrySeconds: number;
}

export const DEFAULT_THROTTLING: ThrottlingConfig = {
  enabled: true,
  httpEndpointConcurrency: 10,
  instanceConcurrency: 2,
  instanceCounts: {},
  tileWorkersPerInstance: 4,
  targetPercentage: 1.0,
  retrySeconds: 10,
};

/** Concurrent model calls an endpoint takes. */
export interface CapacityEstimator {
  capacity(invokeMode: string, endpointName: string): Promise<number>;
}

/** Capacity from configuration alone (no SageMaker control-plane calls). */
export class ConfiguredCapacity implements CapacityEstimator {
  constructor(private readonly config: ThrottlingConfig) {}
  async capacity(invokeMode: string, endpointName: string): Promise<number> {
    if (invokeMode === 'HTTP_ENDPOINT') return this.config.httpEndpointConcurrency;
    return (this.config.instanceCounts[endpointName] ?? 1) * this.config.instanceConcurrency;
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
          if (jobs.size !== state.jobs.size) await this.write(o.endpoint, state.version, jobs).catch(ignoreConflict);
          return decision(jobs, false);
        }
      }
      const next = new Map(jobs).set(o.imageId, { imageId: o.imageId, jobId: o.jobId, load, admittedAt: Date.now() });
      if (await this.write(o.endpoint, state.version, next).catch(ignoreConflict)) return decision(next, true);
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
      if (await this.write(endpoint, state.version, next).catch(ignoreConflict)) return;
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
      jobs.set(imageId, { imageId, jobId: m.job_id?.S ?? '', load: Number(m.load?.N ?? 0), admittedAt: Number(m.admitted_at?.N ?? 0) });
    }
    return { version: Item?.capacity_version?.N !== undefined ? Number(Item.capacity_version.N) : undefined, jobs };
  }

  /** Conditional put: only over the version read (or where no item was). False when another writer got there first. */
  private async write(endpoint: string, version: number | undefined, jobs: Map<string, RunningJob>): Promise<boolean> {
    const running: Record<string, AttributeValue> = {};
    for (const j of jobs.values()) running[j.imageId] = { M: { job_id: { S: j.jobId }, load: { N: String(j.load) }, admitted_at: { N: String(j.admittedAt) } } };
    const load = [...jobs.values()].reduce((s, j) => s + j.load, 0);
    await this.ddb.send(new PutItemCommand({
      TableName: this.table,
      Item: {
        endpoint: { S: endpoint },
        capacity_version: { N: String((version ?? 0) + 1) },
        running_jobs: { M: running },
        running_load: { N: String(load) },
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
