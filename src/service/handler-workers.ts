/**
 * The image and region handlers on their queues: one MessageWorker per queue, sharing a gate so region work has
 * priority (as OSML: an image request is taken only when this process has no region in hand, and an image's
 * handling includes its first region). The same wiring runs `tessera serve` on SQS and `tessera run` on
 * in-process queues.
 */
import { MessageWorker, type MessageHandler } from '../queues/message-worker.js';
import type { MessageQueue, QueueMessage, ReceiveOptions } from '../queues/message-queue.js';
import type { AwsLogger } from '../aws/logger.js';
import type { ServiceContext } from './context.js';
import { handleImageMessage } from './image-handler.js';
import { handleRegionMessage } from './region-handler.js';

type WorkKind = 'region' | 'image';

/**
 * Admission for the two queues: at most `capacity` messages handled at once, and an image request only when no
 * region is in hand (region work first, as OSML's main loop). Checked before each receive; a receive that is
 * already long-polling may still bring in one more, so the limit is soft by at most one message per queue.
 */
export class WorkGate {
  readonly active: Record<WorkKind, number> = { region: 0, image: 0 };
  private waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  isOpen(kind: WorkKind): boolean {
    const total = this.active.region + this.active.image;
    return kind === 'region' ? total < this.capacity : total < this.capacity && this.active.region === 0;
  }

  async wait(kind: WorkKind, signal?: AbortSignal): Promise<void> {
    while (!this.isOpen(kind)) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      await new Promise<void>((resolve, reject) => {
        // The abort listener goes with the wait: a long-lived gate is waited on once per receive.
        const aborted = () => reject(signal?.reason ?? new Error('aborted'));
        this.waiters.push(() => {
          signal?.removeEventListener('abort', aborted);
          resolve();
        });
        signal?.addEventListener('abort', aborted, { once: true });
      });
    }
  }

  async run<T>(kind: WorkKind, fn: () => Promise<T>): Promise<T> {
    this.active[kind]++;
    try {
      return await fn();
    } finally {
      this.active[kind]--;
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}

/** A queue whose receive first waits for the gate to admit its kind of work. */
function gated(queue: MessageQueue, gate: WorkGate, kind: WorkKind): MessageQueue {
  return {
    url: queue.url,
    send: (body, options) => queue.send(body, options),
    receive: async (options: ReceiveOptions = {}): Promise<QueueMessage[]> => {
      await gate.wait(kind, options.abortSignal);
      return queue.receive(options);
    },
    delete: (handle) => queue.delete(handle),
    changeVisibility: (handle, seconds) => queue.changeVisibility(handle, seconds),
    counts: () => queue.counts(),
  };
}

export interface HandlerWorkers {
  gate: WorkGate;
  imageWorker: MessageWorker;
  regionWorker: MessageWorker;
}

export interface HandlerWorkerOptions {
  /** After each message, whatever its outcome (e.g. flush metrics). */
  afterMessage?: () => void;
  logger?: AwsLogger;
}

/** Creates (does not start) the two workers; `queues` are the receiving sides (the context's queues send). */
export function createHandlerWorkers(ctx: ServiceContext, queues: { image: MessageQueue; region: MessageQueue }, options: HandlerWorkerOptions = {}): HandlerWorkers {
  const { config } = ctx;
  const gate = new WorkGate(config.concurrentRegions);
  const guarded = (kind: WorkKind, handler: (ctx: ServiceContext, m: QueueMessage, c: Parameters<MessageHandler>[1]) => ReturnType<MessageHandler>): MessageHandler =>
    (message, context) => gate.run(kind, async () => {
      try {
        return await handler(ctx, message, context);
      } finally {
        options.afterMessage?.();
      }
    });
  const workerOptions = {
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    waitTimeSeconds: config.receiveWaitSeconds,
    failureVisibilitySeconds: Math.min(10, config.visibilityTimeoutSeconds),
    stopGraceMs: config.stopGraceMs,
    ...(options.logger ? { logger: options.logger } : {}),
  };
  const regionWorker = new MessageWorker({
    ...workerOptions,
    queue: gated(queues.region, gate, 'region'),
    handler: guarded('region', handleRegionMessage),
    concurrency: config.concurrentRegions,
  });
  const imageWorker = new MessageWorker({
    ...workerOptions,
    queue: gated(queues.image, gate, 'image'),
    handler: guarded('image', handleImageMessage),
    concurrency: 1,
  });
  return { gate, imageWorker, regionWorker };
}
