import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { SqsQueue, sendToDeadLetterQueue, type QueueMessage } from '../src/queues/sqs-queue.js';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import type { MessageQueue } from '../src/queues/message-queue.js';
import { LeaseLostError, MessageWorker, WorkerStoppedError, type MessageOutcome, type MessageWorkerOptions } from '../src/queues/message-worker.js';

let stack: LocalStack;
let queueCount = 0;

beforeAll(async () => {
  stack = await startLocalStack();
});
afterAll(async () => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh SQS queue per test, so no test sees another's messages. */
async function freshSqsQueue(visibilityTimeout = 30): Promise<MessageQueue> {
  const { QueueUrl } = await stack.clients.sqs.send(new CreateQueueCommand({ QueueName: `q${++queueCount}`, Attributes: { VisibilityTimeout: String(visibilityTimeout) } }));
  return new SqsQueue(stack.clients.sqs, QueueUrl!);
}

/** The in-process queue of `tessera run`, held to the same delivery contract. */
async function freshMemoryQueue(visibilityTimeout = 30): Promise<MessageQueue> {
  return new MemoryQueue(`local://q${++queueCount}`, { defaultVisibilitySeconds: visibilityTimeout });
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A worker whose outcomes can be awaited one by one. */
function worker(queue: MessageQueue, handler: MessageWorkerOptions['handler'], options: Partial<MessageWorkerOptions> = {}) {
  const outcomes: MessageOutcome[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const w = new MessageWorker({
    queue,
    handler,
    waitTimeSeconds: 1,
    ...options,
    onOutcome: (o) => {
      outcomes.push(o);
      for (const x of waiters.filter((x) => outcomes.length >= x.n)) x.resolve();
    },
  });
  const untilOutcomes = (n: number) => (outcomes.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { w, outcomes, untilOutcomes };
}

describe('SqsQueue', () => {
  test('dead-letter messages carry the reason and field', async () => {
    const dlq = new SqsQueue(stack.clients.sqs, stack.queueUrls.imageDlq);
    await sendToDeadLetterQueue(dlq, '{"jobId": ""}', 'jobId: must be a non-empty string', { field: 'jobId', sourceQueueUrl: stack.queueUrls.image });
    await sendToDeadLetterQueue(dlq, '', 'body is empty');
    const got = await dlq.receive({ max: 2, waitSeconds: 1 });
    expect(got.map((m) => m.attributes)).toEqual([
      { reason: 'jobId: must be a non-empty string', field: 'jobId', source_queue: stack.queueUrls.image },
      { reason: 'body is empty' },
    ]);
    expect(got[0].body).toBe('{"jobId": ""}');
  });
});

describe.each([
  ['SQS (local-aws-sqs)', freshSqsQueue],
  ['in-process queue', freshMemoryQueue],
] as const)('%s', (_name, freshQueue) => {
  describe('queue', () => {
    test('send, receive with attributes and receive count, change visibility, delete, counts', async () => {
      const q = await freshQueue();
      await q.send({ hello: 'world' }, { attributes: { kind: 'test' } });
      const [m] = await q.receive({ waitSeconds: 1, visibilityTimeout: 30 });
      expect(JSON.parse(m.body)).toEqual({ hello: 'world' });
      expect(m.attributes).toEqual({ kind: 'test' });
      expect(m.receiveCount).toBe(1);
      expect((await q.counts()).inFlight).toBe(1);
      await q.changeVisibility(m.receiptHandle, 0);
      const [again] = await q.receive({ waitSeconds: 1 });
      expect(again.id).toBe(m.id);
      expect(again.receiveCount).toBe(2);
      await q.delete(again.receiptHandle);
      expect(await q.counts()).toMatchObject({ visible: 0, inFlight: 0 });
    });
  });

  describe('MessageWorker', () => {
    test('the heartbeat keeps a message invisible past its original timeout while the handler runs', async () => {
      const q = await freshQueue(1);
      const started = deferred();
      const release = deferred();
      let calls = 0;
      const { w, outcomes, untilOutcomes } = worker(q, async () => {
        calls++;
        started.resolve();
        await release.promise;
      }, { visibilityTimeoutSeconds: 1, heartbeatIntervalMs: 250 });
      await q.send('long region');
      w.start();
      await started.promise;
      // Another consumer polls for twice the 1 s visibility timeout: the message must not reappear.
      const other = await q.receive({ waitSeconds: 2 });
      expect(other).toEqual([]);
      release.resolve();
      await untilOutcomes(1);
      expect(outcomes[0].result).toBe('deleted');
      expect(calls).toBe(1);
      expect(await q.counts()).toMatchObject({ visible: 0, inFlight: 0 });
      await w.stop();

      // Control: without a heartbeat the same message comes back after 1 s, which is what the heartbeat prevents.
      await q.send('unattended');
      const [taken] = await q.receive({ waitSeconds: 1, visibilityTimeout: 1 });
      const back = await q.receive({ waitSeconds: 3 });
      expect(back.map((m) => m.id)).toEqual([taken.id]);
    });

    test('a failed handler leaves the message for redelivery; it is deleted only after a handler resolves', async () => {
      const q = await freshQueue();
      const seen: QueueMessage[] = [];
      const { w, outcomes, untilOutcomes } = worker(q, async (m) => {
        seen.push(m);
        if (m.receiveCount === 1) throw new Error('model endpoint unavailable');
      });
      await q.send('region');
      w.start();
      await untilOutcomes(2);
      await w.stop();
      expect(outcomes.map((o) => o.result)).toEqual(['failed', 'deleted']);
      expect((outcomes[0].error as Error).message).toBe('model endpoint unavailable');
      expect(seen.map((m) => m.receiveCount)).toEqual([1, 2]);
      expect(seen[0].id).toBe(seen[1].id);
      expect(await q.counts()).toMatchObject({ visible: 0, inFlight: 0 });
    });

    test('a handler can ask for a later retry without failing', async () => {
      const q = await freshQueue();
      const { w, outcomes, untilOutcomes } = worker(q, async (m) => (m.receiveCount === 1 ? { retryAfterSeconds: 0 } : 'delete'));
      await q.send('throttled');
      w.start();
      await untilOutcomes(2);
      await w.stop();
      expect(outcomes.map((o) => o.result)).toEqual(['retry-later', 'deleted']);
    });

    test('a handler can come back later as a delayed copy that spends no delivery', async () => {
      const q = await freshQueue();
      const seen: QueueMessage[] = [];
      const { w, outcomes, untilOutcomes } = worker(q, async (m) => {
        seen.push(m);
        return seen.length === 1 ? { resendAfterSeconds: 1 } : 'delete';
      });
      await q.send('waiting on a lease', { attributes: { reason: 'kept' } });
      w.start();
      await untilOutcomes(2);
      await w.stop();
      expect(outcomes.map((o) => o.result)).toEqual(['resent', 'deleted']);
      // A new message: its own id, a first receive again, the same body and attributes, after the delay.
      expect(seen.map((m) => m.receiveCount)).toEqual([1, 1]);
      expect(seen[1].id).not.toBe(seen[0].id);
      expect(seen.map((m) => [m.body, m.attributes.reason])).toEqual([['waiting on a lease', 'kept'], ['waiting on a lease', 'kept']]);
      expect(await q.counts()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
    });

    test('graceful stop waits for running handlers within the grace period', async () => {
      const q = await freshQueue();
      const started = deferred();
      const release = deferred();
      const { w, outcomes } = worker(q, async () => {
        started.resolve();
        await release.promise;
      });
      await q.send('finish me');
      w.start();
      await started.promise;
      const stopped = w.stop(10_000);
      let resolved = false;
      void stopped.then(() => (resolved = true));
      await sleep(50);
      expect(resolved).toBe(false);
      release.resolve();
      await stopped;
      expect(outcomes.map((o) => o.result)).toEqual(['deleted']);
      expect(w.isRunning).toBe(false);
      expect(await q.counts()).toMatchObject({ visible: 0, inFlight: 0 });
    });

    test('past the grace period, stop aborts handlers and hands their messages back at once', async () => {
      const q = await freshQueue();
      const started = deferred();
      let signal: AbortSignal | undefined;
      const { w, outcomes } = worker(q, async (_m, ctx) => {
        signal = ctx.signal;
        started.resolve();
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }, { concurrency: 2 });
      await q.send('a');
      await q.send('b');
      w.start();
      await started.promise;
      while (w.active < 2) await sleep(20);
      await w.stop(100);
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toBeInstanceOf(WorkerStoppedError);
      expect(outcomes.map((o) => o.result)).toEqual(['handed-back', 'handed-back']);
      // Visible again without waiting for the 30 s visibility timeout.
      const back = await q.receive({ max: 2, waitSeconds: 1 });
      expect(back).toHaveLength(2);
      expect(back.every((m) => m.receiveCount === 2)).toBe(true);
    });

    test('a heartbeat that finds the message gone aborts the handler instead of deleting', async () => {
      const q = await freshQueue();
      const got = deferred<QueueMessage>();
      let reason: unknown;
      const { w, outcomes, untilOutcomes } = worker(q, async (m, ctx) => {
        got.resolve(m);
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => ((reason = ctx.signal.reason), resolve())));
      }, { visibilityTimeoutSeconds: 2, heartbeatIntervalMs: 200 });
      await q.send('stolen');
      w.start();
      const m = await got.promise;
      await q.delete(m.receiptHandle); // the message is no longer this worker's
      await untilOutcomes(1);
      await w.stop();
      expect(reason).toBeInstanceOf(LeaseLostError);
      expect(outcomes.map((o) => o.result)).toEqual(['lease-lost']);
    });

    test('concurrency bounds the messages in flight', async () => {
      const q = await freshQueue();
      let now = 0;
      let peak = 0;
      const { w, untilOutcomes } = worker(q, async () => {
        peak = Math.max(peak, ++now);
        await sleep(100);
        now--;
      }, { concurrency: 2 });
      for (let i = 0; i < 5; i++) await q.send(`m${i}`);
      w.start();
      await untilOutcomes(5);
      await w.stop();
      expect(peak).toBe(2);
    });
  });
});

