/**
 * In-process stand-ins for the job, region and feature tables, for `tessera run`: the same handlers as the
 * service, with state in this process instead of DynamoDB. Each method keeps its table's contract (a job starts
 * once, a region counts once, a tile is recorded once, an aggregation lease, deterministic feature keys), so what
 * the handlers rely on holds in both modes; test/state.test.ts runs the same cases against both.
 * Items are copied in and out: a caller never holds a reference into the store.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Feature } from '../features/geojson.js';
import { registerTemporary } from '../util/temporary-files.js';
import { checkUpdatable, jobIdClaimKey, jobIdClaimOf, type ImageStatus, type JobIdClaim, type JobIdClaimInput, type JobItem, type JobStart, type JobUpdate } from './job-table.js';
import { completionAttributes, type CompletionOptions, type RegionItem, type RegionStart, type TileRecord } from './region-table.js';
import { featureHashKey, packFeatures, shardsToRead } from './feature-table.js';
import type { FeatureStore, JobStore, RegionStore } from './stores.js';
import { DEFAULT_TTL_DAYS, expireTime } from './ttl.js';

export interface MemoryStoreOptions {
  ttlDays?: number;
  now?: () => number;
}

/** Drops undefined values, as DynamoDB's marshalling does. */
function defined<T extends object>(values: T): T {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as T;
}

export class MemoryJobStore implements JobStore {
  readonly tableName = 'in-process job store';
  private readonly items = new Map<string, JobItem>();
  private readonly ttlDays: number;
  private readonly now: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    this.ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
    this.now = options.now ?? Date.now;
  }

  async start(input: JobStart): Promise<{ created: boolean; job: JobItem }> {
    const existing = this.items.get(input.image_id);
    if (existing) return { created: false, job: structuredClone(existing) };
    const now = this.now();
    const job = defined({
      ...input,
      start_time: now,
      expire_time: expireTime(now, this.ttlDays),
      region_success: 0,
      region_error: 0,
      completed_region_ids: [],
      image_status: 'STARTED',
    }) as JobItem;
    this.items.set(input.image_id, job);
    return { created: true, job: structuredClone(job) };
  }

  /** A jobId's claim is an item of the same map under its reserved key, as in the table. */
  async claimJobId(jobId: string, input: JobIdClaimInput): Promise<{ claimed: boolean; claim: JobIdClaim }> {
    const key = jobIdClaimKey(jobId);
    const existing = this.items.get(key) as unknown as JobIdClaim | undefined;
    if (existing) return { claimed: existing.claimed_image_id === input.image_id, claim: structuredClone(existing) };
    const claim = jobIdClaimOf(jobId, input, this.now(), this.ttlDays);
    this.items.set(key, structuredClone(claim) as unknown as JobItem);
    return { claimed: true, claim };
  }

  async get(imageId: string): Promise<JobItem | undefined> {
    const job = this.items.get(imageId);
    return job && structuredClone(job);
  }

  async update(imageId: string, fields: JobUpdate): Promise<JobItem> {
    checkUpdatable(fields);
    const job = this.require(imageId);
    Object.assign(job, structuredClone(defined(fields)));
    return structuredClone(job);
  }

  async completeRegion(imageId: string, regionId: string, outcome: 'success' | 'error'): Promise<{ counted: boolean; job: JobItem }> {
    const job = this.require(imageId);
    if (job.completed_region_ids.includes(regionId)) return { counted: false, job: structuredClone(job) };
    job.completed_region_ids = [...job.completed_region_ids, regionId].sort();
    if (outcome === 'success') job.region_success++;
    else job.region_error++;
    return { counted: true, job: structuredClone(job) };
  }

  async claimAggregation(imageId: string, owner: string, leaseMs: number): Promise<boolean> {
    const job = this.items.get(imageId);
    const now = this.now();
    if (!job || job.end_time !== undefined) return false;
    if (job.aggregation_lease_until !== undefined && job.aggregation_lease_until >= now && job.aggregation_owner !== owner) return false;
    job.aggregation_owner = owner;
    job.aggregation_lease_until = now + leaseMs;
    return true;
  }

  async releaseAggregation(imageId: string, owner: string): Promise<boolean> {
    const job = this.items.get(imageId);
    if (!job || job.aggregation_owner !== owner) return false;
    delete job.aggregation_owner;
    delete job.aggregation_lease_until;
    return true;
  }

  async updateUnderLease(imageId: string, owner: string, fields: JobUpdate): Promise<boolean> {
    checkUpdatable(fields);
    if (!Object.values(fields).some((v) => v !== undefined)) throw new Error('updateUnderLease needs at least one attribute to set');
    const job = this.items.get(imageId);
    if (!job || job.end_time !== undefined || job.aggregation_owner !== owner) return false;
    Object.assign(job, structuredClone(defined(fields)));
    return true;
  }

  async end(imageId: string, status: ImageStatus, message?: string, attributes: JobUpdate = {}): Promise<{ ended: boolean; job: JobItem }> {
    checkUpdatable(attributes);
    const job = this.require(imageId);
    if (job.end_time !== undefined) return { ended: false, job: structuredClone(job) };
    const now = this.now();
    Object.assign(job, defined({ ...structuredClone(attributes), end_time: now, processing_duration: (now - job.start_time) / 1000, image_status: status, message }));
    return { ended: true, job: structuredClone(job) };
  }

  private require(imageId: string): JobItem {
    const job = this.items.get(imageId);
    if (!job) throw new Error(`job ${imageId} not found in ${this.tableName}`);
    return job;
  }
}

/** A region as held: the tile-id sets apart from the item, so recording a tile costs O(1) (ids are sorted on read). */
interface HeldRegion {
  item: RegionItem;
  succeeded: Set<string>;
  failed: Set<string>;
}

export class MemoryRegionStore implements RegionStore {
  readonly tableName = 'in-process region store';
  private readonly held = new Map<string, HeldRegion>();
  private readonly ttlDays: number;
  private readonly now: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    this.ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
    this.now = options.now ?? Date.now;
  }

  async start(input: RegionStart): Promise<{ created: boolean; region: RegionItem }> {
    const key = regionKey(input.image_id, input.region_id);
    const now = this.now();
    const existing = this.held.get(key);
    if (existing) {
      existing.item.region_retry_count++;
      existing.item.last_updated_time = now;
      return { created: false, region: view(existing) };
    }
    const item = defined({
      ...input,
      start_time: now,
      last_updated_time: now,
      expire_time: expireTime(now, this.ttlDays),
      region_status: 'STARTED',
      region_retry_count: 0,
      succeeded_tile_ids: [],
      failed_tile_ids: [],
    }) as RegionItem;
    const region = { item, succeeded: new Set<string>(), failed: new Set<string>() };
    this.held.set(key, region);
    return { created: true, region: view(region) };
  }

  async get(imageId: string, regionId: string): Promise<RegionItem | undefined> {
    const region = this.held.get(regionKey(imageId, regionId));
    return region && view(region);
  }

  async succeededTileIds(imageId: string, regionId: string): Promise<Set<string>> {
    return new Set(this.held.get(regionKey(imageId, regionId))?.succeeded);
  }

  /** Each tile once; a success clears an earlier failure's id (not its bounds, as the table); a failure never overrides a success. */
  async recordTiles(imageId: string, regionId: string, tiles: { succeeded?: TileRecord[]; failed?: TileRecord[] }): Promise<void> {
    const region = this.require(imageId, regionId);
    for (const [state, list] of [['succeeded', tiles.succeeded ?? []], ['failed', tiles.failed ?? []]] as const) {
      const ids = state === 'succeeded' ? region.succeeded : region.failed;
      for (const tile of list) {
        if (ids.has(tile.id) || (state === 'failed' && region.succeeded.has(tile.id))) continue;
        ids.add(tile.id);
        if (state === 'succeeded') region.failed.delete(tile.id);
        if (tile.bounds) (region.item[state === 'succeeded' ? 'succeeded_tiles' : 'failed_tiles'] ??= []).push(structuredClone(tile.bounds));
        region.item.last_updated_time = this.now();
      }
    }
  }

  async complete(imageId: string, regionId: string, totalTiles: number, options: CompletionOptions = {}): Promise<{ completed: boolean; region: RegionItem }> {
    const region = this.require(imageId, regionId);
    if (region.item.region_status !== 'STARTED') return { completed: false, region: view(region) };
    Object.assign(region.item, defined(completionAttributes(view(region), totalTiles, this.now(), options)));
    return { completed: true, region: view(region) };
  }

  fail(imageId: string, regionId: string, message: string, totalTiles = 0): Promise<{ completed: boolean; region: RegionItem }> {
    return this.complete(imageId, regionId, totalTiles, { message, forceStatus: 'FAILED' });
  }

  async markStatusPublished(imageId: string, regionId: string): Promise<void> {
    this.require(imageId, regionId).item.status_published_time = this.now();
  }

  private require(imageId: string, regionId: string): HeldRegion {
    const region = this.held.get(regionKey(imageId, regionId));
    if (!region) throw new Error(`region ${regionId} of ${imageId} not found in ${this.tableName}`);
    return region;
  }
}

/** The item as the table would return it: a copy, tile ids sorted. */
function view(region: HeldRegion): RegionItem {
  return { ...structuredClone(region.item), succeeded_tile_ids: [...region.succeeded].sort(), failed_tile_ids: [...region.failed].sort() };
}

const regionKey = (imageId: string, regionId: string) => `${imageId}\u0000${regionId}`;

interface StoredChunk {
  tileId: string;
  /** The chunk's feature JSON, held in memory ... */
  features?: string[];
  /** ... or where it was spilled: bytes [offset, offset + length) of the spill file, a JSON array of strings. */
  spilled?: { offset: number; length: number };
}

export interface MemoryFeatureStoreOptions {
  /** Feature JSON bytes per chunk (as the table's items). */
  maxItemBytes?: number;
  /**
   * Keep features in a temporary file in this folder instead of in memory (only their place is held): memory then
   * stays flat however many features an image has. Removed by close(), when the process exits, or on a signal
   * through removeTemporaryFiles (util/temporary-files.ts).
   */
  spillDir?: string;
}

/**
 * Features under the feature table's keys (hash `<image>-<shard>`, range `<tile>-<chunk>`), chunked the same way,
 * read back in the same order (shard, then range key), so de-duplication sees the same sequence in both modes.
 */
export class MemoryFeatureStore implements FeatureStore {
  readonly tableName: string;
  /** hash key → range key → chunk */
  private readonly partitions = new Map<string, Map<string, StoredChunk>>();
  private readonly maxItemBytes: number;
  private readonly spillDir: string | undefined;
  private spill: { dir: string; fd: number; end: number; unregister: () => void } | undefined;

  constructor(options: MemoryFeatureStoreOptions | number = {}) {
    const o = typeof options === 'number' ? { maxItemBytes: options } : options;
    this.maxItemBytes = o.maxItemBytes ?? 300_000;
    this.spillDir = o.spillDir;
    this.tableName = this.spillDir ? 'in-process feature store (spilled to a temporary file)' : 'in-process feature store';
  }

  async writeTileFeatures(imageId: string, tileId: string, features: readonly Feature[]): Promise<number> {
    const hashKey = featureHashKey(imageId, tileId);
    const chunks = packFeatures(features, this.maxItemBytes);
    let partition = this.partitions.get(hashKey);
    if (!partition) this.partitions.set(hashKey, (partition = new Map()));
    for (const [rangeKey, chunk] of partition) {
      if (chunk.tileId === tileId && Number(rangeKey.slice(tileId.length + 1)) >= chunks.length) partition.delete(rangeKey);
    }
    chunks.forEach((chunk, i) => partition.set(`${tileId}-${i}`, this.spillDir ? { tileId, spilled: this.append(chunk) } : { tileId, features: chunk }));
    return chunks.length;
  }

  async *featuresOfImage(imageId: string): AsyncGenerator<Feature> {
    for await (const item of this.itemsOfImage(imageId)) {
      for (const json of item.features) yield JSON.parse(json) as Feature;
    }
  }

  async *itemsOfImage(imageId: string, _readAhead = 8, onlyShards?: Iterable<number>): AsyncGenerator<{ tileId: string; rangeKey: string; features: string[] }> {
    const shards = shardsToRead(onlyShards);
    for (const shard of shards) {
      const partition = this.partitions.get(`${imageId}-${shard}`);
      if (!partition) continue;
      for (const rangeKey of [...partition.keys()].sort(byUtf8)) {
        const chunk = partition.get(rangeKey);
        if (chunk) yield { tileId: chunk.tileId, rangeKey, features: chunk.features ? [...chunk.features] : this.readBack(chunk.spilled!) };
      }
    }
  }

  /** Removes the spill file (a no-op without one). The store is empty afterwards. */
  close(): void {
    this.partitions.clear();
    if (!this.spill) return;
    const { dir, fd, unregister } = this.spill;
    this.spill = undefined;
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }

  /** Appends a chunk to the spill file (synchronous: a few KB into the page cache, no thread-pool round trip). */
  private append(chunk: string[]): { offset: number; length: number } {
    if (!this.spill) {
      const dir = mkdtempSync(join(this.spillDir!, 'tessera-features-'));
      this.spill = { dir, fd: openSync(join(dir, 'features.json'), 'w+'), end: 0, unregister: registerTemporary(dir) };
    }
    const data = Buffer.from(JSON.stringify(chunk), 'utf8');
    for (let written = 0; written < data.length; ) written += writeSync(this.spill.fd, data, written, data.length - written, this.spill.end + written);
    const at = { offset: this.spill.end, length: data.length };
    this.spill.end += data.length;
    return at;
  }

  private readBack(at: { offset: number; length: number }): string[] {
    const data = Buffer.allocUnsafe(at.length);
    let read = 0;
    while (read < at.length) {
      const n = readSync(this.spill!.fd, data, read, at.length - read, at.offset + read);
      if (n === 0) throw new Error(`${this.tableName}: the spill file ended ${at.length - read} bytes early (removed or truncated while in use?)`);
      read += n;
    }
    return JSON.parse(data.toString('utf8')) as string[];
  }
}

/** DynamoDB orders string range keys by their UTF-8 bytes. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
