/**
 * An in-process queue with SQS's delivery contract, for `tessera run`: receiving hides a message for its
 * visibility timeout and counts the receive; only `delete` with the current receipt handle removes it; a message
 * not deleted in time (or handed back with visibility 0) is delivered again. Long polls wake on a send or when a
 * delayed or hidden message becomes visible. Receipt handles of earlier deliveries are rejected as SQS does, so the
 * message worker's lease checks behave the same in both modes.
 */
import { randomUUID } from 'node:crypto';
import type { MessageQueue, QueueMessage, ReceiveOptions, SendOptions } from './message-queue.js';

interface StoredMessage {
  id: string;
  body: string;
  attributes: Record<string, string>;
  sentAt: number;
  receiveCount: number;
  /** epoch ms from which the message can be received */
  visibleAt: number;
  /** the receipt handle of the latest delivery */
  receipt?: string;
}

export class QueueReceiptError extends Error {
  constructor(name: 'ReceiptHandleIsInvalid' | 'MessageNotInflight', message: string) {
    super(message);
    this.name = name;
  }
}

export interface MemoryQueueOptions {
  /** Visibility of a received message when the receive names none, seconds (SQS's default 30). */
  defaultVisibilitySeconds?: number;
  now?: () => number;
}

export class MemoryQueue implements MessageQueue {
  private readonly messages: StoredMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly defaultVisibility: number;
  private readonly now: () => number;

  constructor(readonly url: string, options: MemoryQueueOptions = {}) {
    this.defaultVisibility = options.defaultVisibilitySeconds ?? 30;
    this.now = options.now ?? Date.now;
  }

  async send(body: string | object, options: SendOptions = {}): Promise<string> {
    const now = this.now();
    const id = randomUUID();
    const attributes = Object.fromEntries(Object.entries(options.attributes ?? {}).filter(([, v]) => v !== ''));
    this.messages.push({ id, body: typeof body === 'string' ? body : JSON.stringify(body), attributes, sentAt: now, receiveCount: 0, visibleAt: now + (options.delaySeconds ?? 0) * 1000 });
    this.wake();
    return id;
  }

  async receive(options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    const max = Math.min(Math.max(options.max ?? 1, 1), 10);
    const deadline = this.now() + (options.waitSeconds ?? 20) * 1000;
    const visibilityMs = (options.visibilityTimeout ?? this.defaultVisibility) * 1000;
    for (;;) {
      options.abortSignal?.throwIfAborted();
      const now = this.now();
      const ready = this.messages.filter((m) => m.visibleAt <= now).slice(0, max);
      if (ready.length) {
        return ready.map((m) => {
          m.receiveCount++;
          m.receipt = randomUUID();
          m.visibleAt = now + visibilityMs;
          return { id: m.id, receiptHandle: m.receipt, body: m.body, attributes: { ...m.attributes }, receiveCount: m.receiveCount, sentAt: m.sentAt };
        });
      }
      if (now >= deadline) return [];
      const nextVisible = Math.min(deadline, ...this.messages.map((m) => m.visibleAt));
      await this.waitUntil(nextVisible, options.abortSignal);
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    const i = this.messages.findIndex((m) => m.receipt === receiptHandle);
    if (i < 0) throw new QueueReceiptError('ReceiptHandleIsInvalid', `receipt handle ${receiptHandle} is not the latest delivery of any message in ${this.url}`);
    this.messages.splice(i, 1);
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    const m = this.messages.find((x) => x.receipt === receiptHandle);
    if (!m) throw new QueueReceiptError('ReceiptHandleIsInvalid', `receipt handle ${receiptHandle} is not the latest delivery of any message in ${this.url}`);
    const now = this.now();
    if (m.visibleAt <= now) throw new QueueReceiptError('MessageNotInflight', `message ${m.id} in ${this.url} is not in flight`);
    m.visibleAt = now + Math.max(0, Math.round(seconds)) * 1000;
    if (seconds <= 0) this.wake();
  }

  async counts(): Promise<{ visible: number; inFlight: number; delayed: number }> {
    const now = this.now();
    let visible = 0, inFlight = 0, delayed = 0;
    for (const m of this.messages) {
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Every message held, visible or not, oldest first (the local run reads its dead-letter queue with this). */
  peek(): Array<Pick<QueueMessage, 'id' | 'body' | 'attributes' | 'receiveCount'>> {
    return this.messages.map((m) => ({ id: m.id, body: m.body, attributes: { ...m.attributes }, receiveCount: m.receiveCount }));
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Until a send, a hand-back, the given time or the abort, whichever comes first. */
  private waitUntil(at: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanUp = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', aborted);
      };
      const done = () => {
        cleanUp();
        resolve();
      };
      const aborted = () => {
        cleanUp();
        reject(signal?.reason ?? new Error('receive aborted'));
      };
      const timer = setTimeout(done, Math.max(0, at - this.now()));
      this.waiters.add(done);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }
}
