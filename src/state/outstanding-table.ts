/**
 * OSML's outstanding requests table (OLD `OUTSTANDING_JOBS_TABLE`, NEW `OUTSTANDING_IMAGE_REQUEST_TABLE`, reference
 * §6.5): one item per job that has been received and not finished, PK `endpoint_id` (the model name or URL), SK
 * `job_id`, with OSML's attributes `request_time` (epoch s), `request_payload` (the request as OSML stores it,
 * snake_case), `last_attempt` (epoch s, 0 = not started), `num_attempts`, `regions_complete` (region ids) and
 * `region_count`. Tessera schedules from its queue, not from this table: it keeps the table so that OSML dashboards
 * and tools reading it see the jobs in flight. Every write is idempotent (a redelivery changes nothing it should
 * not), items carry `expire_time` (DDB_TTL_IN_DAYS, which OSML's items lack) so a missed delete does not linger,
 * and the item is deleted when the job ends, as OSML does.
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionalCheckFailed, toItem, type Plain } from './attribute-values.js';
import { DEFAULT_TTL_DAYS, expireTime } from './ttl.js';

export interface OutstandingRequest {
  endpointId: string;
  jobId: string;
  /** OSML's internal ImageRequest (snake_case), stored as a map. */
  payload: { [key: string]: Plain | undefined };
}

export class OutstandingJobsTable {
  constructor(private readonly ddb: DynamoDBClient, readonly tableName: string, private readonly ttlDays = DEFAULT_TTL_DAYS, private readonly now: () => number = Date.now) {}

  /** Records a received request (not started: attempts 0). A second call for the same job leaves the first record. */
  async add(r: OutstandingRequest): Promise<boolean> {
    const now = this.now();
    try {
      await this.ddb.send(new PutItemCommand({
        TableName: this.tableName,
        Item: toItem({
          endpoint_id: r.endpointId,
          job_id: r.jobId,
          request_time: Math.floor(now / 1000),
          request_payload: r.payload,
          last_attempt: 0,
          num_attempts: 0,
          regions_complete: [],
          expire_time: expireTime(now, this.ttlDays),
        }),
        ConditionExpression: 'attribute_not_exists(job_id)',
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  /** A delivery starts running the job (OSML's start_next_attempt): one more attempt, now, and the job's region count. */
  async startAttempt(endpointId: string, jobId: string, regionCount: number): Promise<boolean> {
    return this.conditionalUpdate(endpointId, jobId, 'SET last_attempt = :now, num_attempts = num_attempts + :one, region_count = :count', 'attribute_exists(job_id)', {
      ':now': { N: String(Math.floor(this.now() / 1000)) },
      ':one': { N: '1' },
      ':count': { N: String(regionCount) },
    });
  }

  /** Appends a finished region's id once (OSML's complete_region); false when it was already there or the job is gone. */
  async completeRegion(endpointId: string, jobId: string, regionId: string): Promise<boolean> {
    return this.conditionalUpdate(endpointId, jobId, 'SET regions_complete = list_append(if_not_exists(regions_complete, :empty), :region)', 'attribute_exists(job_id) AND NOT contains(regions_complete, :id)', {
      ':empty': { L: [] },
      ':region': { L: [{ S: regionId }] },
      ':id': { S: regionId },
    });
  }

  /** The job ended: its record goes (OSML's complete_request). Safe to call twice. */
  async complete(endpointId: string, jobId: string): Promise<void> {
    await this.ddb.send(new DeleteItemCommand({ TableName: this.tableName, Key: toItem({ endpoint_id: endpointId, job_id: jobId }) }));
  }

  async get(endpointId: string, jobId: string): Promise<{ [key: string]: Plain } | undefined> {
    const { Item } = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: toItem({ endpoint_id: endpointId, job_id: jobId }), ConsistentRead: true }));
    return Item ? fromItem(Item) : undefined;
  }

  private async conditionalUpdate(endpointId: string, jobId: string, update: string, condition: string, values: Record<string, AttributeValue>): Promise<boolean> {
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: toItem({ endpoint_id: endpointId, job_id: jobId }),
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}
