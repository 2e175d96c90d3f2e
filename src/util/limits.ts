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
