import { GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionalCheckFailed, toItem, type Plain } from './attribute-values.js';
import { ExpressionBuilder } from './update-expression.js';
import { DEFAULT_TTL_DAYS, expireTime } from './ttl.js';

/**
 * The job (image request) table, OSML's JobTable/ImageRequestTable: PK `image_id`, OSML's attributes (times in epoch
 * ms, `processing_duration` in seconds), plus what correctness needs:
 * - `start` is a conditional put, so a retried or redelivered image request never wipes a running job's counters;
 * - `completeRegion` adds the region id to the string set `completed_region_ids` under the condition that it is not
 *   there yet, and bumps `region_success`/`region_error` in the same update: a region counts exactly once however
 *   often it is delivered (OSML's plain counters count redeliveries again, §16.5);
 * - `image_status` records the state machine (OSML derives it and never stores it);
 * - an aggregation lease, so two containers that both see a completed image do not aggregate it at the same time;
 * - markers of the end-of-job side effects done (`final_status_published_time`, `dead_lettered_time`), so a
 *   redelivery after a crash redoes the ones missing.
 */
export type ImageStatus = 'STARTED' | 'IN_PROGRESS' | 'SUCCESS' | 'PARTIAL' | 'FAILED';

export interface JobItem {
  image_id: string;
  job_id?: string;
  image_url?: string;
  image_read_role?: string;
  model_name?: string;
  model_invoke_mode?: string;
  /** epoch ms */
  start_time: number;
  /** epoch ms; set once, by `end`. */
  end_time?: number;
  /** epoch s (TTL) */
  expire_time: number;
  region_count?: number;
  region_success: number;
  region_error: number;
  /** Ids of the regions already counted (sorted). */
  completed_region_ids: string[];
  width?: number;
  height?: number;
  extents?: string;
  tile_size?: string;
  tile_overlap?: string;
  outputs?: string;
  feature_properties?: string;
  feature_distillation_option?: string;
  roi_wkt?: string;
  /** seconds, as OSML */
  processing_duration?: number;
  image_status?: ImageStatus;
  message?: string;
  aggregation_owner?: string;
  aggregation_lease_until?: number;
  /** epoch ms: the final image status was published (and its metric and capacity release done). */
  final_status_published_time?: number;
  /** The image request is owed to the image dead-letter queue (set by failImage before the job ends). */
  dead_letter_pending?: boolean;
  /** epoch ms: the image request was sent to the dead-letter queue. */
  dead_lettered_time?: number;
  /** The SQS message id of the delivery that created the job (image-handler.ts RequestIdentity). */
  request_message_id?: string;
  /** sha256 of the validated request that created the job: the same request sent again is not a new job. */
  request_hash?: string;
  /** Other attributes stored by the caller (e.g. the normalised request). */
  [attribute: string]: Plain | string[] | undefined;
}

/** Attributes written when a job starts; image_id is the key (`<jobId>:<imageUrl>`). */
export interface JobStart {
  image_id: string;
  job_id: string;
  image_url: string;
  model_name: string;
  model_invoke_mode: string;
  [attribute: string]: Plain | undefined;
}

export type JobUpdate = { [attribute: string]: Plain | undefined };

/**
 * A jobId names one request, whatever its image: the job table's key is the image id (`<jobId>:<imageUrl>`), so a
 * second request with the same jobId and another image would otherwise be a second job (and overwrite the first's
 * `<prefix>/<jobId>.geojson`). Before a job is started, its jobId is claimed with an item of its own in the job
 * table, under the reserved key `job-id#<jobId>` (`item_type` JOB_ID_CLAIM, no `image_status`), which names the
 * image id it was claimed for and the request that claimed it, and expires with the jobs (`expire_time`).
 * No image id can take that key: a jobId may not start with the prefix (image-request.ts).
 */
export const JOB_ID_CLAIM_PREFIX = 'job-id#';
export const JOB_ID_CLAIM_TYPE = 'JOB_ID_CLAIM';

export const jobIdClaimKey = (jobId: string): string => `${JOB_ID_CLAIM_PREFIX}${jobId}`;

export interface JobIdClaim {
  /** The table's key: `job-id#<jobId>`. */
  image_id: string;
  item_type: typeof JOB_ID_CLAIM_TYPE;
  job_id: string;
  /** The image id (`<jobId>:<imageUrl>`) of the job the jobId belongs to. */
  claimed_image_id: string;
  /** The request that claimed it (image-handler.ts RequestIdentity), for whoever reads the table. */
  request_message_id?: string;
  request_hash?: string;
  /** epoch ms */
  claim_time: number;
  /** epoch s (TTL), as the job items */
  expire_time: number;
}

export interface JobIdClaimInput {
  /** The image id the jobId is claimed for. */
  image_id: string;
  request_message_id?: string;
  request_hash?: string;
}

export interface JobTableOptions {
  ttlDays?: number;
  now?: () => number;
}

const RESERVED = new Set(['image_id', 'region_success', 'region_error', 'completed_region_ids', 'start_time', 'expire_time', 'end_time']);

export class JobTable {
  private readonly ttlDays: number;
  private readonly now: () => number;

  constructor(private readonly ddb: DynamoDBClient, readonly tableName: string, options: JobTableOptions = {}) {
    this.ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
    this.now = options.now ?? Date.now;
  }

  /** Records a new job (counters 0, status STARTED). If the job already exists, leaves it untouched and returns it. */
  async start(input: JobStart): Promise<{ created: boolean; job: JobItem }> {
    const now = this.now();
    const item = toItem({
      ...input,
      start_time: now,
      expire_time: expireTime(now, this.ttlDays),
      region_success: 0,
      region_error: 0,
      image_status: 'STARTED',
    });
    try {
      await this.ddb.send(new PutItemCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(image_id)' }));
      return { created: true, job: toJob(item) };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      return { created: false, job: await this.require(input.image_id) };
    }
  }

  /**
   * Claims `jobId` for the image id given, once (a conditional put). `claimed` is true when the jobId is this
   * image's, by this call or an earlier one (the stored claim is kept as it was), false when it was claimed for
   * another image; `claim` is the stored claim either way.
   */
  async claimJobId(jobId: string, input: JobIdClaimInput): Promise<{ claimed: boolean; claim: JobIdClaim }> {
    const now = this.now();
    const claim = jobIdClaimOf(jobId, input, now, this.ttlDays);
    const key = claim.image_id;
    try {
      await this.ddb.send(new PutItemCommand({ TableName: this.tableName, Item: toItem({ ...claim }), ConditionExpression: 'attribute_not_exists(image_id)' }));
      return { claimed: true, claim };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    const { Item } = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: toItem({ image_id: key }), ConsistentRead: true }));
    if (!Item) throw new Error(`the claim of jobId ${jobId} (${key}) in ${this.tableName} vanished while it was read (expired?); retry`);
    const stored = fromItem(Item) as unknown as JobIdClaim;
    return { claimed: stored.claimed_image_id === input.image_id, claim: stored };
  }

  async get(imageId: string): Promise<JobItem | undefined> {
    const { Item } = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: toItem({ image_id: imageId }), ConsistentRead: true }));
    return Item ? toJob(Item) : undefined;
  }

  /** Sets the given attributes of an existing job (e.g. region_count, width, height, image_status IN_PROGRESS). */
  async update(imageId: string, fields: JobUpdate): Promise<JobItem> {
    checkUpdatable(fields);
    const x = new ExpressionBuilder();
    const sets = x.sets(fields);
    if (!sets.length) return this.require(imageId);
    const { Attributes } = await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: toItem({ image_id: imageId }),
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'attribute_exists(image_id)',
      ReturnValues: 'ALL_NEW',
      ...x.params(),
    })).catch((err) => rethrowMissing(err, imageId));
    return toJob(Attributes!);
  }

  /**
   * Counts a finished region toward its image exactly once. `counted` is false when this region was already
   * counted (a redelivery); `job` is the job after the update either way, for the completion test.
   */
  async completeRegion(imageId: string, regionId: string, outcome: 'success' | 'error'): Promise<{ counted: boolean; job: JobItem }> {
    const x = new ExpressionBuilder();
    const ids = x.name('completed_region_ids');
    const counter = x.name(outcome === 'success' ? 'region_success' : 'region_error');
    const update = `ADD ${ids} ${x.value(new Set([regionId]))}, ${counter} ${x.value(1)}`;
    const condition = `attribute_exists(image_id) AND NOT contains(${ids}, ${x.value(regionId)})`;
    try {
      const { Attributes } = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ image_id: imageId }),
        UpdateExpression: update,
        ConditionExpression: condition,
        ReturnValues: 'ALL_NEW',
        ...x.params(),
      }));
      return { counted: true, job: toJob(Attributes!) };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      return { counted: false, job: await this.require(imageId) };
    }
  }

  /**
   * Takes (or renews) the right to aggregate a completed image for `leaseMs`. False when the image has ended or
   * another owner holds an unexpired lease. A container that dies while aggregating loses the lease by expiry, and
   * the redelivered region message lets another container take over.
   */
  async claimAggregation(imageId: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.now();
    const x = new ExpressionBuilder();
    const ownerName = x.name('aggregation_owner');
    const lease = x.name('aggregation_lease_until');
    const ownerValue = x.value(owner);
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ image_id: imageId }),
        UpdateExpression: `SET ${ownerName} = ${ownerValue}, ${lease} = ${x.value(now + leaseMs)}`,
        ConditionExpression: `attribute_exists(image_id) AND attribute_not_exists(${x.name('end_time')}) AND (attribute_not_exists(${lease}) OR ${lease} < ${x.value(now)} OR ${ownerName} = ${ownerValue})`,
        ...x.params(),
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  /**
   * Gives the lease back (only if `owner` holds it), so a redelivery can aggregate at once after a failed
   * aggregation instead of waiting for the lease to expire. False when another owner holds it, or none.
   */
  async releaseAggregation(imageId: string, owner: string): Promise<boolean> {
    const x = new ExpressionBuilder();
    const ownerName = x.name('aggregation_owner');
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ image_id: imageId }),
        UpdateExpression: `REMOVE ${ownerName}, ${x.name('aggregation_lease_until')}`,
        ConditionExpression: `attribute_exists(image_id) AND ${ownerName} = ${x.value(owner)}`,
        ...x.params(),
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  /**
   * Sets attributes on a job that has not ended, only while `owner` holds its aggregation lease (one conditional
   * update): what an aggregation records as it goes (each output written, aggregation.ts), so that it is never
   * recorded by an aggregator that lost its lease. False when the lease is another's (or none), or the job ended.
   */
  async updateUnderLease(imageId: string, owner: string, fields: JobUpdate): Promise<boolean> {
    checkUpdatable(fields);
    const x = new ExpressionBuilder();
    const sets = x.sets(fields);
    if (!sets.length) throw new Error('updateUnderLease needs at least one attribute to set');
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ image_id: imageId }),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: `attribute_exists(image_id) AND attribute_not_exists(${x.name('end_time')}) AND ${x.name('aggregation_owner')} = ${x.value(owner)}`,
        ...x.params(),
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  /**
   * Records the end of a job once: `end_time`, `processing_duration` (s), the final status and an optional message.
   * `attributes` are set with the end, in the same write (e.g. what the end still owes). `ended` is false if the
   * job had already ended (the stored end is kept, `attributes` are not written).
   */
  async end(imageId: string, status: ImageStatus, message?: string, attributes: JobUpdate = {}): Promise<{ ended: boolean; job: JobItem }> {
    checkUpdatable(attributes);
    const job = await this.require(imageId);
    if (job.end_time !== undefined) return { ended: false, job };
    const now = this.now();
    const x = new ExpressionBuilder();
    const sets = x.sets({ ...attributes, end_time: now, processing_duration: (now - job.start_time) / 1000, image_status: status, message });
    try {
      const { Attributes } = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ image_id: imageId }),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: `attribute_exists(image_id) AND attribute_not_exists(${x.name('end_time')})`,
        ReturnValues: 'ALL_NEW',
        ...x.params(),
      }));
      return { ended: true, job: toJob(Attributes!) };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      return { ended: false, job: await this.require(imageId) };
    }
  }

  private async require(imageId: string): Promise<JobItem> {
    const job = await this.get(imageId);
    if (!job) throw new Error(`job ${imageId} not found in ${this.tableName}`);
    return job;
  }
}

/** The claim item of a jobId (JobTable.claimJobId), as stored. */
export function jobIdClaimOf(jobId: string, input: JobIdClaimInput, now: number, ttlDays: number): JobIdClaim {
  return {
    image_id: jobIdClaimKey(jobId),
    item_type: JOB_ID_CLAIM_TYPE,
    job_id: jobId,
    claimed_image_id: input.image_id,
    ...(input.request_message_id !== undefined ? { request_message_id: input.request_message_id } : {}),
    ...(input.request_hash !== undefined ? { request_hash: input.request_hash } : {}),
    claim_time: now,
    expire_time: expireTime(now, ttlDays),
  };
}

/** Attributes a caller may set: not the key, the counters or the times the table manages. */
export function checkUpdatable(fields: JobUpdate): void {
  for (const k of Object.keys(fields)) if (RESERVED.has(k)) throw new Error(`job attribute ${k} is managed by the job table and cannot be updated directly`);
}

/** Every region of the image has been counted (false while region_count is unknown). */
export function isImageComplete(job: JobItem): boolean {
  return job.region_count !== undefined && job.completed_region_ids.length >= job.region_count;
}

/** OSML's derived image status (§6.6): SUCCESS, PARTIAL or FAILED once complete, IN_PROGRESS before. */
export function imageStatusOf(job: JobItem): ImageStatus {
  if (job.region_count === undefined) return job.image_status ?? 'STARTED';
  if (job.region_success >= job.region_count) return 'SUCCESS';
  if (!isImageComplete(job)) return 'IN_PROGRESS';
  return job.region_success > 0 ? 'PARTIAL' : 'FAILED';
}

function toJob(item: Parameters<typeof fromItem>[0]): JobItem {
  const plain = fromItem(item);
  const ids = plain.completed_region_ids;
  return {
    ...plain,
    region_success: Number(plain.region_success ?? 0),
    region_error: Number(plain.region_error ?? 0),
    completed_region_ids: ids instanceof Set ? [...ids].sort() : [],
  } as JobItem;
}

function rethrowMissing(err: unknown, imageId: string): never {
  if (isConditionalCheckFailed(err)) throw new Error(`job ${imageId} not found`);
  throw err;
}
