/**
 * Runs a list of tiles of one prepared image through the worker pool: each tile is read into a slot of a bounded
 * SharedArrayBuffer pool on the main thread and handed to a worker as a slot handle. Two bounds keep memory flat
 * whatever the image size: the slot pool (pixels waiting for a worker) and the in-flight limit (tiles between read
 * and result). Used for a whole image (`tessera run`) and for one region (service mode).
 */
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { SlotPool } from '../raster/slot-pool.js';
import { WindowReader } from '../raster/window-reader.js';
import { bytesPerSample } from '../pixels/data-type.js';
import { regionTupleRepr, type Window } from '../tiling/index.js';
import type { TilePool } from './tile-pool.js';
import { isTileFailed, type TileResult, type TileStage, type TileTask, type TileTimings, type WorkerConfig } from './tile-task.js';
import type { RasterInfo } from '../raster/raster-source.js';
import type { ReadResources } from './read-resources.js';

/**
 * Decoded bytes of the tiles in flight at once, per worker (see maxInFlight): enough for the tiles a worker keeps
 * at the model, and what bounds memory for big tiles (a 2048² RGB tile is 12 MB, its PNG about 8 MB more).
 */
const IN_FLIGHT_BYTES_PER_WORKER = 32 * 2 ** 20;
/** Pixel memory of the slot pool (see slotCount). */
const SLOT_POOL_BYTES = 128 * 2 ** 20;

export interface StageTotals {
  readMs: number;
  convertMs: number;
  encodeMs: number;
  invokeMs: number;
  refineMs: number;
  dedupMs: number;
}

export interface ProcessTilesOptions {
  info: RasterInfo;
  config: WorkerConfig;
  tiles: Window[];
  pool: TilePool;
  /** Tile slots (default: 2 per worker + 2). */
  slots?: number;
  /** GDAL handles reading in parallel (default 2). */
  readers?: number;
  /** Called on the main thread for every finished tile; may be async (e.g. storing features). `readMs`: reading its pixels. */
  onResult(window: Window, label: string, result: TileResult, readMs: number): void | Promise<void>;
  onFailure(window: Window, label: string, error: string, details: TileFailureDetails): void | Promise<void>;
  onProgress?(done: number, total: number): void;
  /** The image's reader and slot pool, kept across regions (service context); absent: opened and closed here. */
  resources?: ReadResources;
  /** Checked before each new tile: a reason stops dispatching (tiles in flight still finish), reported by the caller. */
  stopReason?(): string | null;
}

/** Where a tile failed, for its metrics. No stage: the worker itself failed. */
export interface TileFailureDetails {
  stage?: TileStage;
  /** Model attempts made (invocation failures). */
  attempts?: number;
  /** The worker steps that ran. */
  timings?: Partial<TileTimings>;
  /** Reading the tile's pixels, when the read completed. */
  readMs?: number;
}

export interface ProcessTilesStats {
  stages: StageTotals;
  encodedBytes: number;
  slotBytes: number;
}

export async function processTiles(o: ProcessTilesOptions): Promise<ProcessTilesStats> {
  const { info, tiles, pool } = o;
  const stages: StageTotals = { readMs: 0, convertMs: 0, encodeMs: 0, invokeMs: 0, refineMs: 0, dedupMs: 0 };
  let encodedBytes = 0;
  if (tiles.length === 0) return { stages, encodedBytes, slotBytes: 0 };
  // Keyed by content: the regions of one image share what each worker builds from it (model client, sensor model).
  const configKey = createHash('sha1').update(JSON.stringify(o.config)).digest('hex');
  const maxTile = tiles.reduce((m, t) => Math.max(m, t.width * t.height), 1);
  const slotBytes = maxTile * info.bandCount * bytesPerSample(info.dataType);
  const slotCount = slotCountFor(pool.workers, slotBytes, o.slots);
  const readers = Math.max(1, o.readers ?? 2);
  // Shared across the regions of an image when the caller keeps them (read-resources.ts); else this call's own.
  const lease = o.resources
    ? await o.resources.acquire(info, slotCount, slotBytes, readers)
    : await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, readers, info.readCredentials, info.drivers).then((reader) => {
      const own = new SlotPool(slotCount, slotBytes);
      return { reader, slots: own, release: () => (reader.close(), own.close()) };
    });
  const { reader, slots } = lease;

  let fatal: Error | null = pool.fatal;
  const stopOnFatal = pool.onFatal((err) => {
    fatal = err;
    wakeAll();
  });
  // Tiles between read and result, each holding its encoded body until the model answers: bounded in count and,
  // for big tiles (2048² RGB is 12 MB before encoding, a PNG of it as much), in bytes, so memory stays flat.
  const tileBytes = maxTile * o.config.conversion.bands.length * bytesPerSample(o.config.conversion.outputType === 'same' ? info.dataType : o.config.conversion.outputType);
  const maxInFlight = Math.max(pool.workers, Math.min(pool.capacity + slotCount, Math.floor((IN_FLIGHT_BYTES_PER_WORKER * pool.workers) / tileBytes)));
  let inFlight = 0, done = 0;
  const waiters: (() => void)[] = [];
  const wakeAll = () => {
    for (const wakeUp of waiters.splice(0)) wakeUp();
  };
  const waitForChange = () => new Promise<void>((resolve) => waiters.push(resolve));
  const finishTile = () => {
    inFlight--;
    done++;
    o.onProgress?.(done, tiles.length);
    wakeAll();
  };

  /** Reads a tile into a slot and dispatches it; resolves once dispatched, with the promise of its completion. */
  const startTile = async (window: Window, label: string, stream: number): Promise<{ completion: Promise<void> }> => {
    const slot = await slots.acquire();
    const r0 = performance.now();
    try {
      await reader.read(window, slot, stream);
    } catch (err) {
      slots.release(slot);
      throw err;
    }
    const readMs = performance.now() - r0;
    stages.readMs += readMs;
    const task: TileTask = {
      configKey,
      config: o.config,
      slot: { buffer: slot.buffer, control: slot.control, index: slot.index, ticket: slot.ticket, byteOffset: slot.byteOffset, byteLength: slot.byteLength },
      window,
      label,
    };
    const completion = pool.run(task).then(
      async (outcome) => {
        slots.release(slot); // a no-op unless the worker died before releasing it
        if (isTileFailed(outcome)) {
          const { error, ...details } = outcome.failed;
          await o.onFailure(window, label, error, { ...details, readMs });
          return;
        }
        const r = outcome;
        encodedBytes += r.encodedBytes;
        stages.convertMs += r.timings.convertMs;
        stages.encodeMs += r.timings.encodeMs;
        stages.invokeMs += r.timings.invokeMs;
        stages.refineMs += r.timings.refineMs;
        await o.onResult(window, label, r, readMs);
      },
      async (err: unknown) => {
        slots.release(slot);
        await o.onFailure(window, label, String((err as Error)?.message ?? err), { readMs });
      },
    );
    return { completion };
  };

  // One read stream per GDAL handle, each reading a contiguous run of tile rows in order through its own handle:
  // GDAL caches decoded blocks per handle, so the blocks that neighbouring tiles share (left/right and the row
  // above) are decoded once. Interleaving tiles over the handles decodes most blocks once per handle instead.
  const plan = new RowPlan(tileRows(tiles), reader.handleCount);
  const readStream = async (stream: number) => {
    for (let row = plan.next(stream); row && !fatal && !o.stopReason?.(); row = plan.next(stream)) {
      for (const window of row) {
        if (fatal || o.stopReason?.()) return;
        const label = regionTupleRepr(window);
        while (inFlight >= maxInFlight && !fatal) await waitForChange();
        if (fatal) return;
        inFlight++;
        try {
          const { completion } = await startTile(window, label, stream);
          void completion.catch(() => undefined).finally(finishTile);
        } catch (err) {
          await o.onFailure(window, label, (err as Error).message, { stage: 'generation' }); // reading its pixels failed
          finishTile();
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: reader.handleCount }, (_, stream) => readStream(stream)));
    while (inFlight > 0) await waitForChange();
  } finally {
    stopOnFatal();
    lease.release();
  }
  if (fatal) throw fatal;
  return { stages, encodedBytes, slotBytes: slots.totalBytes };
}

/**
 * The tiles cut into rows: runs of consecutive tiles with the same top edge and height (a region's tile row, as
 * tilesOfRegion lists them, row by row and left to right within a row).
 */
export function tileRows(tiles: readonly Window[]): Window[][] {
  const rows: Window[][] = [];
  for (const t of tiles) {
    const row = rows.at(-1);
    if (row && row[0].y === t.y && row[0].height === t.height) row.push(t);
    else rows.push([t]);
  }
  return rows;
}

/**
 * Tile rows shared out to read streams as contiguous runs: stream k starts with the k-th of `streams` equal runs and
 * reads it top to bottom; a stream that runs out takes the bottom half of the longest run left, so streams finish
 * together without giving up contiguity. With fewer rows than streams (a strip, a region's last row), rows are cut
 * into runs of columns so that every stream still reads.
 */
export class RowPlan {
  private readonly runs: Array<{ next: number; end: number }>;
  private readonly rows: readonly Window[][];

  constructor(rows: readonly Window[][], streams: number) {
    const n = Math.max(1, streams);
    this.rows = rows.length > 0 && rows.length < n ? rows.flatMap((row) => splitRow(row, Math.ceil(n / rows.length))) : rows;
    const count = this.rows.length;
    this.runs = Array.from({ length: n }, (_, k) => ({ next: Math.floor((k * count) / n), end: Math.floor(((k + 1) * count) / n) }));
  }

  /** The next row for a stream, or undefined when every row has been handed out. */
  next(stream: number): Window[] | undefined {
    const run = this.runs[stream % this.runs.length];
    if (run.next >= run.end) {
      const longest = this.runs.reduce((a, b) => (b.end - b.next > a.end - a.next ? b : a));
      const left = longest.end - longest.next;
      if (left <= 0) return undefined;
      const split = longest.end - Math.floor(left / 2) - (left === 1 ? 1 : 0);
      run.next = split;
      run.end = longest.end;
      longest.end = split;
    }
    return this.rows[run.next++];
  }
}

/**
 * Slots in a tile pool: 2 per worker + 2 keep the workers fed; big multi-band tiles get fewer, down to 2, so the
 * pool stays within SLOT_POOL_BYTES wherever 2 slots fit. `requested` (at least 2) overrides.
 */
export function slotCountFor(workers: number, slotBytes: number, requested?: number): number {
  if (requested !== undefined) return Math.max(2, requested);
  return Math.max(2, Math.min(workers * 2 + 2, Math.floor(SLOT_POOL_BYTES / slotBytes)));
}

/** A row cut into at most `parts` runs of neighbouring tiles, as equal as they can be. */
function splitRow(row: Window[], parts: number): Window[][] {
  const k = Math.min(parts, row.length);
  return Array.from({ length: k }, (_, i) => row.slice(Math.floor((i * row.length) / k), Math.floor(((i + 1) * row.length) / k)));
}
