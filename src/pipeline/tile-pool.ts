/**
 * The long-lived pool of tile workers (Piscina). Image-specific settings travel with each task under a key, and the
 * workers cache what they build from them (detector connection pool, sensor model), so one pool serves every image
 * and region of a process instead of being rebuilt per region as OSML's threads are.
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { packageRoot } from '../util/package-root.js';
import type { TileOutcome, TileTask } from './tile-task.js';

export interface TilePoolOptions {
  /** Worker threads (default: available cores). */
  workers?: number;
  /** Concurrent tiles per worker: model calls wait on the network, so more than one (default 8). */
  concurrencyPerWorker?: number;
}

export class TilePool {
  readonly workers: number;
  readonly concurrencyPerWorker: number;
  private readonly piscina: Piscina<TileTask, TileOutcome>;
  private fatalError: Error | null = null;
  private readonly fatalListeners = new Set<(err: Error) => void>();
  private readonly loadedWorkers = new Set<number>();
  /** The workers' kernel thread ids (Linux), so a benchmark can tell their CPU time from the rest of the process. */
  private readonly workerOsThreads = new Set<number>();
  private readonly whenLoaded: Promise<void>;

  constructor(options: TilePoolOptions = {}) {
    this.workers = Math.max(1, options.workers ?? availableParallelism());
    this.concurrencyPerWorker = Math.max(1, options.concurrencyPerWorker ?? 8);
    this.piscina = new Piscina<TileTask, TileOutcome>({
      filename: join(packageRoot(), 'dist', 'workers', 'tile-worker.js'),
      minThreads: this.workers,
      maxThreads: this.workers,
      concurrentTasksPerWorker: this.concurrencyPerWorker,
      idleTimeout: 60_000,
    });
    let allLoaded!: () => void;
    this.whenLoaded = new Promise<void>((resolve) => (allLoaded = resolve));
    this.piscina.on('message', (message: unknown) => {
      const loaded = message as { tesseraWorkerLoaded?: number; osThreadId?: number } | null;
      const id = loaded?.tesseraWorkerLoaded;
      if (id === undefined) return;
      this.loadedWorkers.add(id);
      if (loaded?.osThreadId !== undefined) this.workerOsThreads.add(loaded.osThreadId);
      if (this.loadedWorkers.size >= this.workers) allLoaded();
    });
    // A worker that cannot start (missing build, native module that fails to load) would leave tiles waiting
    // forever: it is fatal for the pool, and every user hears of it.
    this.piscina.on('error', (err: Error) => {
      if (this.fatalError) return;
      this.fatalError = new Error(`tile worker failed: ${err.message}`);
      for (const listener of this.fatalListeners) listener(this.fatalError);
      void this.piscina.destroy().catch(() => undefined);
    });
  }

  /** Tiles the pool can work on at once. */
  get capacity(): number {
    return this.workers * this.concurrencyPerWorker;
  }

  /** Kernel thread ids of the workers loaded so far (empty where /proc/thread-self does not exist). */
  get osThreadIds(): ReadonlySet<number> {
    return this.workerOsThreads;
  }

  get fatal(): Error | null {
    return this.fatalError;
  }

  onFatal(listener: (err: Error) => void): () => void {
    this.fatalListeners.add(listener);
    return () => this.fatalListeners.delete(listener);
  }

  /**
   * Resolves once every worker has loaded its modules (a benchmark measures from here, as the limit it is compared
   * with excludes start-up); rejects if the pool fails first.
   */
  ready(): Promise<void> {
    if (this.fatalError) return Promise.reject(this.fatalError);
    return new Promise<void>((resolve, reject) => {
      const stop = this.onFatal(reject);
      void this.whenLoaded.then(() => {
        stop();
        resolve();
      });
    });
  }

  /** A tile's result, or how it failed (TileFailed); rejects only when the worker itself fails. */
  run(task: TileTask): Promise<TileOutcome> {
    if (this.fatalError) return Promise.reject(this.fatalError);
    return this.piscina.run(task);
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy().catch(() => undefined);
  }
}
