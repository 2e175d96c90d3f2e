import { errorDetails, silentLogger, type AwsLogger } from '../aws/logger.js';
import type { MessageQueue, QueueMessage } from './message-queue.js';

/**
 * Consumes one queue (SQS, or the in-process queue of `tessera run`): receives messages (up to `concurrency` in flight), runs the handler for each, keeps the
 * message invisible while the handler runs (a visibility heartbeat, so a long region is never processed by two
 * containers at once, which OSML allows, §16.5), deletes it only after the handler resolved, and hands it back
 * when the handler fails or the worker stops.
 *
 * A small loop rather than sqs-consumer 14: that library's stop() only waits (in 1 s steps) and its abort option
 * also cancels the deletes and heartbeats of handlers still running; it gives the handler no signal, does not
 * report a heartbeat that lost the message, and cannot hand in-flight messages back on shutdown. All four are
 * what this worker exists for.
 */
export type MessageDisposition =
  /** Done: delete the message (the default when the handler resolves with nothing). */
  | 'delete'
  /** Leave the message on the queue, visible again after `seconds` (e.g. throttled work to retry later). */
  | { retryAfterSeconds: number }
  /**
   * Come back after `seconds` without spending a delivery: a copy of the message (body and attributes) is sent with
   * that delay (at most SQS's 900 s) and the message deleted, so waiting on something else never counts toward
   * the receive limit or the queue's redrive policy. If the copy cannot be sent, the message waits as with
   * retryAfterSeconds.
   */
  | { resendAfterSeconds: number };

/** SQS's longest DelaySeconds. */
const MAX_DELAY_SECONDS = 900;

export interface MessageContext {
  /** Aborted when the worker stops past its grace period or the message's lease was lost to another consumer. */
  signal: AbortSignal;
}

export type MessageHandler = (message: QueueMessage, context: MessageContext) => Promise<MessageDisposition | void>;

export interface MessageWorkerOptions {
  queue: MessageQueue;
  handler: MessageHandler;
  /** Messages handled at once (default 1). */
  concurrency?: number;
  /** Invisibility given at receive and renewed by each heartbeat, seconds (default 60). */
  visibilityTimeoutSeconds?: number;
  /** Heartbeat period, ms (default a third of the visibility timeout). */
  heartbeatIntervalMs?: number;
  /** Long-poll seconds per receive (default 20). */
  waitTimeSeconds?: number;
  /** Visibility after a handler failure, seconds (default 0: redelivered at once; SQS's maxReceiveCount ends loops). */
  failureVisibilitySeconds?: number;
  /** What stop() waits for running handlers before handing their messages back (default 30 s). */
  stopGraceMs?: number;
  logger?: AwsLogger;
  /** Called after each message's outcome (tests and metrics). */
  onOutcome?: (outcome: MessageOutcome) => void;
}

export interface MessageOutcome {
  message: QueueMessage;
  result: 'deleted' | 'retry-later' | 'resent' | 'failed' | 'handed-back' | 'lease-lost';
  error?: unknown;
}

export class WorkerStoppedError extends Error {
  constructor() {
    super('message worker stopped: message handed back to the queue');
    this.name = 'WorkerStoppedError';
  }
}

export class LeaseLostError extends Error {
  constructor(cause: unknown) {
    super(`message visibility could not be extended: ${errorDetails(cause).error}`);
    this.name = 'LeaseLostError';
  }
}

interface InFlight {
  message: QueueMessage;
  controller: AbortController;
  done: Promise<void>;
  /** Set when the worker gave the message back (stop or lost lease): its later result must not delete it. */
  relinquished: boolean;
  /** The handler has settled: late heartbeat results are ignored. */
  settled: boolean;
}

/** Errors that mean this receipt handle no longer holds the message (it became visible and went elsewhere, or was deleted). */
function isLeaseLost(err: unknown): boolean {
  const name = (err as { name?: string })?.name ?? '';
  const message = (err as { message?: string })?.message ?? '';
  return /ReceiptHandleIsInvalid|MessageNotInflight|InvalidParameterValue/i.test(name) || /receipt handle|not in ?flight|not available for visibility/i.test(message);
}

export class MessageWorker {
  private readonly concurrency: number;
  private readonly visibility: number;
  private readonly heartbeatMs: number;
  private readonly waitTimeSeconds: number;
  private readonly failureVisibility: number;
  private readonly stopGraceMs: number;
  private readonly logger: AwsLogger;
  private readonly inFlight = new Map<string, InFlight>();
  private running = false;
  private loop: Promise<void> | undefined;
  private receiveAbort: AbortController | undefined;
  private slotFreed: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: MessageWorkerOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.visibility = options.visibilityTimeoutSeconds ?? 60;
    if (this.visibility < 1) throw new Error('visibilityTimeoutSeconds must be at least 1');
    this.heartbeatMs = options.heartbeatIntervalMs ?? (this.visibility * 1000) / 3;
    if (this.heartbeatMs >= this.visibility * 1000) throw new Error('heartbeatIntervalMs must be shorter than the visibility timeout');
    this.waitTimeSeconds = options.waitTimeSeconds ?? 20;
    this.failureVisibility = options.failureVisibilitySeconds ?? 0;
    this.stopGraceMs = options.stopGraceMs ?? 30_000;
    this.logger = options.logger ?? silentLogger;
  }

  get queueUrl(): string {
    return this.options.queue.url;
  }

  /** Messages being handled now. */
  get active(): number {
    return this.inFlight.size;
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    this.loop = this.receiveLoop();
  }

  /**
   * Stops receiving, waits up to the grace period for running handlers, then aborts the rest and hands their
   * messages back (visibility 0) so another consumer takes them at once. Resolves when no message is held.
   */
  stop(graceMs = this.stopGraceMs): Promise<void> {
    this.stopping ??= this.shutdown(graceMs);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.running = false;
    this.receiveAbort?.abort();
    this.slotFreed?.();
    await this.loop;
    const pending = [...this.inFlight.values()];
    if (pending.length) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      const result = await Promise.race([Promise.all(pending.map((p) => p.done)).then(() => 'done' as const), graceOver]);
      clearTimeout(timer);
      if (result === 'timeout') {
        await Promise.all([...this.inFlight.values()].map((f) => this.relinquish(f, new WorkerStoppedError(), 'handed-back')));
      }
    }
  }

  private async receiveLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      if (this.inFlight.size >= this.concurrency) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = undefined;
        continue;
      }
      this.receiveAbort = new AbortController();
      let messages: QueueMessage[];
      try {
        messages = await this.options.queue.receive({
          max: this.concurrency - this.inFlight.size,
          waitSeconds: this.waitTimeSeconds,
          visibilityTimeout: this.visibility,
          abortSignal: this.receiveAbort.signal,
        });
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures++;
        const backoff = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        this.logger.warn({ queue: this.queueUrl, ...errorDetails(err), retryInMs: backoff }, 'receiving from the queue failed');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, backoff);
          this.receiveAbort!.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
        continue;
      }
      for (const message of messages) {
        if (!this.running) {
          // Received while stopping: give it straight back.
          await this.options.queue.changeVisibility(message.receiptHandle, 0).catch(() => undefined);
          continue;
        }
        this.dispatch(message);
      }
    }
  }

  private dispatch(message: QueueMessage): void {
    const controller = new AbortController();
    const entry: InFlight = { message, controller, relinquished: false, settled: false, done: Promise.resolve() };
    const heartbeat = setInterval(() => void this.beat(entry), this.heartbeatMs);
    entry.done = (async () => {
      try {
        const disposition = await this.options.handler(message, { signal: controller.signal });
        entry.settled = true;
        clearInterval(heartbeat);
        if (entry.relinquished) return;
        if (disposition && typeof disposition === 'object' && 'resendAfterSeconds' in disposition) {
          const resent = await this.options.queue
            .send(message.body, { attributes: message.attributes, delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(disposition.resendAfterSeconds))) })
            .then(() => true, (err) => (this.logger.warn({ queue: this.queueUrl, messageId: message.id, ...errorDetails(err) }, 'could not send a delayed copy: the message waits instead'), false));
          if (resent) {
            await this.deleteWithRetry(message);
            this.options.onOutcome?.({ message, result: 'resent' });
            return;
          }
        }
        if (disposition && typeof disposition === 'object') {
          const seconds = 'retryAfterSeconds' in disposition ? disposition.retryAfterSeconds : disposition.resendAfterSeconds;
          await this.options.queue.changeVisibility(message.receiptHandle, seconds).catch((err) =>
            this.logger.warn({ queue: this.queueUrl, messageId: message.id, ...errorDetails(err) }, 'could not delay a message for retry'));
          this.options.onOutcome?.({ message, result: 'retry-later' });
          return;
        }
        await this.deleteWithRetry(message);
        this.options.onOutcome?.({ message, result: 'deleted' });
      } catch (err) {
        entry.settled = true;
        clearInterval(heartbeat);
        if (entry.relinquished) return;
        this.logger.warn({ queue: this.queueUrl, messageId: message.id, receiveCount: message.receiveCount, ...errorDetails(err) }, 'message handler failed: message left for redelivery');
        await this.options.queue.changeVisibility(message.receiptHandle, this.failureVisibility).catch(() => undefined);
        this.options.onOutcome?.({ message, result: 'failed', error: err });
      } finally {
        this.inFlight.delete(message.id);
        this.slotFreed?.();
      }
    })();
    this.inFlight.set(message.id, entry);
  }

  /** Renews the message's invisibility; a rejected renewal means the message is no longer ours. */
  private async beat(entry: InFlight): Promise<void> {
    if (entry.relinquished || entry.settled) return;
    try {
      await this.options.queue.changeVisibility(entry.message.receiptHandle, this.visibility);
    } catch (err) {
      if (entry.relinquished || entry.settled) return;
      if (isLeaseLost(err)) {
        this.logger.error({ queue: this.queueUrl, messageId: entry.message.id, ...errorDetails(err) }, 'lost a message while handling it: aborting its handler');
        entry.relinquished = true;
        entry.controller.abort(new LeaseLostError(err));
        this.options.onOutcome?.({ message: entry.message, result: 'lease-lost', error: err });
      } else {
        // A transient failure: the next beat tries again well before the visibility runs out.
        this.logger.warn({ queue: this.queueUrl, messageId: entry.message.id, ...errorDetails(err) }, 'visibility heartbeat failed');
      }
    }
  }

  private async relinquish(entry: InFlight, reason: Error, result: MessageOutcome['result']): Promise<void> {
    if (entry.relinquished) return;
    entry.relinquished = true;
    entry.controller.abort(reason);
    await this.options.queue.changeVisibility(entry.message.receiptHandle, 0).catch((err) =>
      this.logger.warn({ queue: this.queueUrl, messageId: entry.message.id, ...errorDetails(err) }, 'could not hand a message back'));
    this.options.onOutcome?.({ message: entry.message, result });
  }

  private async deleteWithRetry(message: QueueMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.queue.delete(message.receiptHandle);
        return;
      } catch (err) {
        if (attempt >= 3 || isLeaseLost(err)) {
          // The outcome is recorded; a redelivery will find it and only repeat idempotent steps.
          this.logger.warn({ queue: this.queueUrl, messageId: message.id, ...errorDetails(err) }, 'could not delete a handled message');
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }
}
