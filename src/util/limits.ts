/**
 * Upper bounds of the options that size resources or set timers, shared by `tessera run` and `tessera serve`, so
 * an absurd value is refused at start with a clear message instead of crashing or misbehaving later.
 */
import { availableParallelism } from 'node:os';

/**
 * Tile worker threads: 4 × the cores, at most 64. Workers do CPU work (conversion, encoding); waiting on the model
 * is covered by several tiles per worker, so more threads than cores only add start-up time (a worker loads its
 * modules and the native module) and about 20 MB each; 1000 of them crash V8 or exhaust memory.
 */
export const WORKER_THREADS_PER_CORE = 4;
export const MAX_WORKER_THREADS = 64;
export function maxWorkerThreads(cores = availableParallelism()): number {
  return Math.min(WORKER_THREADS_PER_CORE * Math.max(1, cores), MAX_WORKER_THREADS);
}

/** Tiles in flight per container (OSML's WORKERS): beyond this the in-flight byte bound decides anyway. */
export const MAX_TILES_IN_FLIGHT = 1024;

/** Regions worked on at once in one process: each keeps its own GDAL handles. */
export const MAX_CONCURRENT_REGIONS = 16;

/**
 * Tile edge in pixels: the slot pool holds 2 tiles per worker (+2) of the source samples; an 8192² RGB 16-bit tile
 * is already 384 MB, and SageMaker's 6 MB payload limit is far below it.
 */
export const MAX_TILE_SIZE = 8192;

/**
 * Timer-valued options: 24 hours. Node timers hold at most 2^31-1 ms (about 24.8 days) and silently fire after
 * 1 ms above that; nothing here needs a day, let alone that.
 */
export const MAX_TIMER_SECONDS = 86_400;

/**
 * What one tile's model answer may hold. A model that answers with millions of detections per tile (a bug, or a
 * hostile endpoint) made the workers parse, refine and hand back every one of them, several tiles at a time: 2 million
 * per tile took a local run past 11 GB. Such a tile fails with a clear reason instead; the rest of the image goes on.
 * 50,000 detections is one per 5 pixels of a 512² tile and far more than a detector finds on a 2048² one; 32 MiB holds
 * 50,000 features with rich properties (about 400 bytes each) with room to spare.
 */
export const MAX_FEATURES_PER_TILE = 50_000;
export const MAX_MODEL_RESPONSE_BYTES = 32 * 2 ** 20;
