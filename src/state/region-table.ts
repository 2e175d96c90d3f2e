import { GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionalCheckFailed, toItem, type Plain } from './attribute-values.js';
import { ExpressionBuilder } from './update-expression.js';
import { DEFAULT_TTL_DAYS, expireTime } from './ttl.js';
import { clipReason, describeTileFailures, type TileFailureReason, type TileFailureSummary } from './tile-failures.js';

/**
 * The region table, OSML's RegionRequestTable: PK `image_id`, SK `region_id`, OSML's attributes (times epoch ms,
 * `processing_duration` ms, `succeeded_tiles`/`failed_tiles` lists of `[[row, col], [w, h]]`), plus idempotent tile
 * bookkeeping: `succeeded_tile_ids`/`failed_tile_ids` string sets, written under conditions so a tile is recorded
 * once however often it is reported, and a region is completed once (the first completion is the one its image
 * counts).
 */
export type RegionStatus = 'STARTED' | 'SUCCESS' | 'PARTIAL' | 'FAILED';

/** OSML's ImageRegion / tile bounds: `[[row, col], [width, height]]`. */
export type PixelBounds = [[number, number], [number, number]];

export interface RegionItem {
  image_id: string;
  region_id: string;
  job_id?: string;
  start_time: number;
  last_updated_time: number;
  end_time?: number;
  expire_time: number;
  image_read_role?: string;
  /** ms, as OSML */
  processing_duration?: number;
  message?: string;
  region_status: RegionStatus;
  total_tiles?: number;
  succeeded_tile_count?: number;
  failed_tile_count?: number;
  succeeded_tiles?: PixelBounds[];
  failed_tiles?: PixelBounds[];
  succeeded_tile_ids: string[];
  failed_tile_ids: string[];
  region_bounds?: PixelBounds;
  /** Deliveries after the first (OSML has the attribute but never increments it). */
  region_retry_count: number;
  tile_size?: number[];
  tile_overlap?: number[];
  tile_format?: string;
  tile_compression?: string;
  /** epoch ms: the region's final status was published (a redelivery publishes it when missing). */
  status_published_time?: number;
  /** JSON TileFailureSummary (tile-failures.ts), set on completion when tiles failed or the region failed as a whole. */
  tile_failures?: string;
  [attribute: string]: Plain | undefined;
}

export interface RegionStart {
  image_id: string;
  region_id: string;
  job_id: string;
  [attribute: string]: Plain | undefined;
}

export interface TileRecord {
  /** Stable id of the tile within the image (the same id the feature table uses). */
  id: string;
  /** Kept in OSML's list attributes when given. */
  bounds?: PixelBounds;
}

export interface RegionTableOptions {
  ttlDays?: number;
  now?: () => number;
  /** Tiles per conditional update (the condition names each id; DynamoDB caps expression size). */
  tilesPerUpdate?: number;
}

export class RegionTable {
  private readonly ttlDays: number;
  private readonly now: () => number;
  private readonly tilesPerUpdate: number;

  constructor(private readonly ddb: DynamoDBClient, readonly tableName: string, options: RegionTableOptions = {}) {
    this.ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
    this.now = options.now ?? Date.now;
    this.tilesPerUpdate = options.tilesPerUpdate ?? 25;
  }

  /**
   * Records a region as STARTED, or, when it already exists (a redelivery, or the first region recorded by the
   * image handler), counts the delivery in `region_retry_count` and returns the stored item unchanged otherwise.
   */
  async start(input: RegionStart): Promise<{ created: boolean; region: RegionItem }> {
    const now = this.now();
    const item = toItem({ ...input, start_time: now, last_updated_time: now, expire_time: expireTime(now, this.ttlDays), region_status: 'STARTED', region_retry_count: 0 });
    try {
      await this.ddb.send(new PutItemCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(region_id)' }));
      return { created: true, region: toRegion(item) };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    const x = new ExpressionBuilder();
    const { Attributes } = await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(input.image_id, input.region_id),
      UpdateExpression: `ADD ${x.name('region_retry_count')} ${x.value(1)} SET ${x.name('last_updated_time')} = ${x.value(now)}`,
      ReturnValues: 'ALL_NEW',
      ...x.params(),
    }));
    return { created: false, region: toRegion(Attributes!) };
  }

  async get(imageId: string, regionId: string): Promise<RegionItem | undefined> {
    const { Item } = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(imageId, regionId), ConsistentRead: true }));
    return Item ? toRegion(Item) : undefined;
  }

  /** Tiles already recorded as succeeded: a redelivered region skips them. */
  async succeededTileIds(imageId: string, regionId: string): Promise<Set<string>> {
    return new Set((await this.get(imageId, regionId))?.succeeded_tile_ids ?? []);
  }

  /**
   * Records tiles as succeeded or failed, each at most once. A success also clears an earlier failure of the same
   * tile (a retried tile); a failure is not recorded over a success.
   */
  async recordTiles(imageId: string, regionId: string, tiles: { succeeded?: TileRecord[]; failed?: TileRecord[] }): Promise<void> {
    for (const [state, list] of [['succeeded', tiles.succeeded ?? []], ['failed', tiles.failed ?? []]] as const) {
      const unique = [...new Map(list.map((t) => [t.id, t])).values()];
      for (let i = 0; i < unique.length; i += this.tilesPerUpdate) {
        const batch = unique.slice(i, i + this.tilesPerUpdate);
        // One conditional update for the batch; if any tile was recorded before, fall back to one update per tile.
        if (await this.recordBatch(imageId, regionId, state, batch)) continue;
        for (const tile of batch) await this.recordBatch(imageId, regionId, state, [tile]);
      }
    }
  }

  private async recordBatch(imageId: string, regionId: string, state: 'succeeded' | 'failed', tiles: TileRecord[]): Promise<boolean> {
    const x = new ExpressionBuilder();
    const ids = x.name(`${state}_tile_ids`);
    const succeededIds = x.name('succeeded_tile_ids');
    const idSet = x.value(new Set(tiles.map((t) => t.id)));
    const sets = [`${x.name('last_updated_time')} = ${x.value(this.now())}`];
    if (tiles.every((t) => t.bounds)) {
      const list = x.name(`${state}_tiles`);
      sets.push(`${list} = list_append(if_not_exists(${list}, ${x.value([])}), ${x.value(tiles.map((t) => t.bounds!))})`);
    }
    let update = `ADD ${ids} ${idSet} SET ${sets.join(', ')}`;
    if (state === 'succeeded') update += ` DELETE ${x.name('failed_tile_ids')} ${idSet}`;
    const conditions = ['attribute_exists(region_id)'];
    for (const t of tiles) {
      const id = x.value(t.id);
      conditions.push(`NOT contains(${ids}, ${id})`);
      if (state === 'failed') conditions.push(`NOT contains(${succeededIds}, ${id})`);
    }
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(imageId, regionId),
        UpdateExpression: update,
        ConditionExpression: conditions.join(' AND '),
        ...x.params(),
      }));
      return true;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      if (!(await this.get(imageId, regionId))) throw new Error(`region ${regionId} of ${imageId} not found in ${this.tableName}`);
      return false;
    }
  }

  /**
   * Completes the region once: counts from the recorded tile sets (a tile neither succeeded nor failed counts as
   * failed), status by OSML's rule, `end_time`, `processing_duration` (ms). `completed` is false when the region had
   * already been completed; the stored outcome is returned unchanged then.
   */
  async complete(imageId: string, regionId: string, totalTiles: number, options: CompletionOptions = {}): Promise<{ completed: boolean; region: RegionItem }> {
    const region = await this.get(imageId, regionId);
    if (!region) throw new Error(`region ${regionId} of ${imageId} not found in ${this.tableName}`);
    if (region.region_status !== 'STARTED') return { completed: false, region };
    const x = new ExpressionBuilder();
    const sets = x.sets(completionAttributes(region, totalTiles, this.now(), options));
    try {
      const { Attributes } = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(imageId, regionId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: `${x.name('region_status')} = ${x.value('STARTED')}`,
        ReturnValues: 'ALL_NEW',
        ...x.params(),
      }));
      return { completed: true, region: toRegion(Attributes!) };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      return { completed: false, region: (await this.get(imageId, regionId))! };
    }
  }

  /** Completes the region as FAILED with a message (e.g. the image could not be opened). */
  fail(imageId: string, regionId: string, message: string, totalTiles = 0): Promise<{ completed: boolean; region: RegionItem }> {
    return this.complete(imageId, regionId, totalTiles, { message, forceStatus: 'FAILED' });
  }

  /** Records that the region's final status was published. */
  async markStatusPublished(imageId: string, regionId: string): Promise<void> {
    const x = new ExpressionBuilder();
    await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(imageId, regionId),
      UpdateExpression: `SET ${x.sets({ status_published_time: this.now() }).join(', ')}`,
      ConditionExpression: 'attribute_exists(region_id)',
      ...x.params(),
    })).catch((err) => {
      throw isConditionalCheckFailed(err) ? new Error(`region ${regionId} of ${imageId} not found in ${this.tableName}`) : err;
    });
  }

  private key(imageId: string, regionId: string) {
    return toItem({ image_id: imageId, region_id: regionId });
  }
}

export interface CompletionOptions {
  /** Why the region failed as a whole (with forceStatus FAILED); otherwise the message is the tile failure summary. */
  message?: string;
  forceStatus?: RegionStatus;
  /** The most common reasons its tiles failed for, this delivery (TileFailureTally.top()). */
  tileFailures?: TileFailureReason[];
}

/**
 * What completing a region sets: counts from its recorded tile sets (a tile in neither counts as failed), OSML's
 * status rule, and when anything failed a short summary of why (`tile_failures`, and as OSML's `message`).
 */
export function completionAttributes(region: RegionItem, totalTiles: number, now: number, options: CompletionOptions = {}) {
  const succeeded = region.succeeded_tile_ids.length;
  const failed = Math.max(totalTiles - succeeded, 0);
  const whole = options.forceStatus === 'FAILED' && options.message !== undefined;
  let summary: TileFailureSummary | undefined;
  if (whole) summary = { failed, total: totalTiles, reasons: [{ reason: clipReason(options.message!), count: failed, tile: regionLabel(region) }], regionFailed: true };
  else if (failed > 0) summary = { failed, total: totalTiles, reasons: options.tileFailures ?? [] };
  return {
    region_status: options.forceStatus ?? regionStatusOf(totalTiles, failed),
    end_time: now,
    last_updated_time: now,
    processing_duration: now - region.start_time,
    total_tiles: totalTiles,
    succeeded_tile_count: succeeded,
    failed_tile_count: failed,
    message: options.message ?? (summary ? describeTileFailures(summary) : undefined),
    tile_failures: summary ? JSON.stringify(summary) : undefined,
  };
}

/** `region (row, col)(w, h)`, as tiles are labelled. */
function regionLabel(region: RegionItem): string {
  const b = region.region_bounds;
  return b ? `region (${b[0][0]}, ${b[0][1]})(${b[1][0]}, ${b[1][1]})` : `region ${region.region_id}`;
}

/** OSML's rule: FAILED when every tile failed (also with no tiles), PARTIAL when some did, else SUCCESS. */
export function regionStatusOf(totalTiles: number, failedTiles: number): RegionStatus {
  if (failedTiles >= totalTiles) return 'FAILED';
  return failedTiles > 0 ? 'PARTIAL' : 'SUCCESS';
}

/** A region whose outcome is recorded: a redelivery only needs to be counted toward its image, not re-run. */
export function isRegionFinal(region: RegionItem): boolean {
  return region.region_status !== 'STARTED';
}

function toRegion(item: Parameters<typeof fromItem>[0]): RegionItem {
  const plain = fromItem(item);
  const ids = (v: Plain | undefined) => (v instanceof Set ? [...v].sort() : []);
  return {
    ...plain,
    region_retry_count: Number(plain.region_retry_count ?? 0),
    succeeded_tile_ids: ids(plain.succeeded_tile_ids),
    failed_tile_ids: ids(plain.failed_tile_ids),
  } as RegionItem;
}
