import { BatchWriteItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { Feature } from '../features/geojson.js';
import { toItem } from './attribute-values.js';
import { DEFAULT_TTL_DAYS, expireTime } from './ttl.js';

/**
 * The feature table (OSML's FeatureTable: PK `hash_key`, SK `range_key`, `tile_id`, `features` = list of GeoJSON
 * strings, `expire_time`), with deterministic keys so a re-run of a tile replaces its features instead of adding
 * copies (OSML salts with random numbers and random range keys, §16.19):
 * - hash_key  = `<image_id>-<shard>`, shard a stable hash of the tile id into 1..50 (OSML's 50 partitions, so
 *   existing readers that query `<image_id>-1` … `<image_id>-50` still find everything);
 * - range_key = `<tile id>-<chunk index>`; a tile's features are packed into chunks of at most ~300 KB.
 * Rewriting a tile writes its chunks and then deletes any higher-numbered chunks left by an earlier run.
 */
export const FEATURE_SHARDS = 50;

/** Stable shard 1..50 of a tile id (FNV-1a over its UTF-8 bytes). */
export function featureShard(tileId: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(tileId, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % FEATURE_SHARDS) + 1;
}

/** The shards to read, in order: the given ones (the caller knows where its tiles hash), else all of them. */
export function shardsToRead(onlyShards?: Iterable<number>): number[] {
  return onlyShards ? [...new Set(onlyShards)].filter((s) => s >= 1 && s <= FEATURE_SHARDS).sort((a, b) => a - b) : Array.from({ length: FEATURE_SHARDS }, (_, i) => i + 1);
}

export function featureHashKey(imageId: string, tileId: string): string {
  return `${imageId}-${featureShard(tileId)}`;
}

export interface FeatureTableOptions {
  ttlDays?: number;
  now?: () => number;
  /** Feature JSON bytes per item before a new chunk starts (DynamoDB's item limit is 400 KB). */
  maxItemBytes?: number;
  /** Retries of unprocessed batch items before giving up. */
  maxBatchRetries?: number;
  /** Items per Query page when reading back. */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** A single feature whose JSON cannot fit in one item even alone. */
export class FeatureTooLargeError extends Error {}

const HARD_ITEM_LIMIT = 390_000;

export class FeatureTable {
  private readonly ttlDays: number;
  private readonly now: () => number;
  private readonly maxItemBytes: number;
  private readonly maxBatchRetries: number;
  private readonly pageSize: number | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly ddb: DynamoDBClient, readonly tableName: string, options: FeatureTableOptions = {}) {
    this.ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
    this.now = options.now ?? Date.now;
    this.maxItemBytes = options.maxItemBytes ?? 300_000;
    this.maxBatchRetries = options.maxBatchRetries ?? 50;
    this.pageSize = options.pageSize;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Stores the features of one tile, replacing whatever an earlier run of the same tile stored. An empty list
   * removes the tile's features. Returns the number of items written.
   */
  async writeTileFeatures(imageId: string, tileId: string, features: readonly Feature[]): Promise<number> {
    const hashKey = featureHashKey(imageId, tileId);
    const expire = expireTime(this.now(), this.ttlDays);
    const chunks = packFeatures(features, this.maxItemBytes);
    const puts: WriteRequest[] = chunks.map((chunk, i) => ({
      PutRequest: { Item: toItem({ hash_key: hashKey, range_key: `${tileId}-${i}`, tile_id: tileId, features: chunk, expire_time: expire }) },
    }));
    // The look-up of an earlier run's chunks only concerns indexes the new write does not touch: overlap them.
    const [, stale] = await Promise.all([this.batchWrite(puts), this.staleChunks(hashKey, tileId, chunks.length)]);
    await this.batchWrite(stale.map((Key) => ({ DeleteRequest: { Key } })));
    return puts.length;
  }

  /**
   * Every stored feature of an image, read shard by shard and page by page (consistent reads), so a consumer never
   * needs the whole set in memory. Shards are read ahead in parallel (see itemsOfImage).
   */
  async *featuresOfImage(imageId: string): AsyncGenerator<Feature> {
    for await (const item of this.itemsOfImage(imageId)) {
      for (const json of item.features) yield JSON.parse(json) as Feature;
    }
  }

  /**
   * The raw items of an image (tile id and feature JSON strings), in shard and key order. Up to `readAhead` shards
   * are queried at once (OSML uses 10 threads), each one page ahead of the consumer, so memory stays bounded by
   * a few pages while round trips overlap.
   */
  async *itemsOfImage(imageId: string, readAhead = 8, onlyShards?: Iterable<number>): AsyncGenerator<{ tileId: string; rangeKey: string; features: string[] }> {
    type Page = { items: Record<string, AttributeValue>[]; next?: Record<string, AttributeValue> };
    // `onlyShards`: the caller knows which shards can hold the image's tiles (e.g. from its tiling plan) and skips the rest.
    const shards = shardsToRead(onlyShards);
    const query = (shard: number, start?: Record<string, AttributeValue>): Promise<Page> => {
      const page = this.ddb.send(new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'hash_key = :h',
        ExpressionAttributeValues: { ':h': { S: `${imageId}-${shard}` } },
        ConsistentRead: true,
        ...(this.pageSize ? { Limit: this.pageSize } : {}),
        ...(start ? { ExclusiveStartKey: start } : {}),
      })).then((out) => ({ items: out.Items ?? [], next: out.LastEvaluatedKey }));
      // A prefetched page the consumer never reaches (it stopped early) must not become an unhandled rejection.
      page.catch(() => undefined);
      return page;
    };
    const firstPages = new Map<number, Promise<Page>>();
    const startShard = (index: number) => {
      if (index < shards.length && !firstPages.has(index)) firstPages.set(index, query(shards[index]));
    };
    for (let i = 0; i < Math.min(readAhead, shards.length); i++) startShard(i);
    for (let i = 0; i < shards.length; i++) {
      let pending: Promise<Page> | undefined = firstPages.get(i)!;
      firstPages.delete(i);
      while (pending) {
        const page: Page = await pending;
        pending = page.next ? query(shards[i], page.next) : undefined;
        if (!pending) startShard(i + readAhead);
        for (const item of page.items) {
          yield { tileId: item.tile_id?.S ?? '', rangeKey: item.range_key.S!, features: (item.features?.L ?? []).map((v) => v.S ?? '') };
        }
      }
    }
  }

  /** Range keys of chunks `>= keep` left by an earlier, longer run of the same tile. */
  private async staleChunks(hashKey: string, tileId: string, keep: number): Promise<Record<string, AttributeValue>[]> {
    const stale: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.ddb.send(new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'hash_key = :h AND begins_with(range_key, :p)',
        ExpressionAttributeValues: { ':h': { S: hashKey }, ':p': { S: `${tileId}-` } },
        ProjectionExpression: 'range_key, tile_id',
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }));
      for (const item of out.Items ?? []) {
        // begins_with also matches tiles whose id extends this one ("t-1" vs "t-1-x"): compare the stored id.
        if (item.tile_id?.S !== tileId) continue;
        const index = Number(item.range_key.S!.slice(tileId.length + 1));
        if (Number.isInteger(index) && index >= keep) stale.push({ hash_key: { S: hashKey }, range_key: item.range_key });
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return stale;
  }

  /** BatchWriteItem in groups of 25, retrying unprocessed items with jittered exponential back-off (as OSML). */
  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length; attempt++) {
        if (attempt > this.maxBatchRetries) throw new Error(`feature table ${this.tableName}: ${pending.length} items still unprocessed after ${this.maxBatchRetries} retries`);
        if (attempt > 0) await this.sleep(Math.random() * Math.min(8000, 125 * 2 ** Math.min(attempt - 1, 10)));
        const out = await this.ddb.send(new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }));
        pending = out.UnprocessedItems?.[this.tableName] ?? [];
      }
    }
  }
}

/** Groups feature JSON strings into chunks of at most `maxBytes` UTF-8 bytes (a lone larger feature is its own chunk). */
export function packFeatures(features: readonly Feature[], maxBytes: number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let size = 0;
  features.forEach((feature, index) => {
    const json = JSON.stringify(feature);
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > HARD_ITEM_LIMIT) throw new FeatureTooLargeError(`feature ${feature.id ?? index} is ${bytes} bytes of JSON, more than one DynamoDB item can hold`);
    if (current.length && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(json);
    size += bytes;
  });
  if (current.length) chunks.push(current);
  return chunks;
}
