/**
 * A work queue as the handlers see it: SQS in service mode (sqs-queue.ts), an in-process queue for `tessera run`
 * (memory-queue.ts). Same delivery contract: a received message is invisible for a while, deleted only on purpose,
 * redelivered with a higher receive count otherwise.
 */

/** A message as Tessera's handlers see it. */
export interface QueueMessage {
  id: string;
  receiptHandle: string;
  body: string;
  /** String message attributes (e.g. `reason` on a dead-letter message). */
  attributes: Record<string, string>;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  receiveCount: number;
  sentAt?: number;
}

export interface ReceiveOptions {
  max?: number;
  /** Long-poll seconds (0..20). */
  waitSeconds?: number;
  /** Visibility given to the received messages, seconds; absent: the queue's default. */
  visibilityTimeout?: number;
  abortSignal?: AbortSignal;
}

export interface SendOptions {
  attributes?: Record<string, string>;
  delaySeconds?: number;
}

export interface MessageQueue {
  readonly url: string;
  /** Sends a body (objects are sent as JSON); returns the message id. */
  send(body: string | object, options?: SendOptions): Promise<string>;
  receive(options?: ReceiveOptions): Promise<QueueMessage[]>;
  delete(receiptHandle: string): Promise<void>;
  /** Sets a received message's remaining invisibility, seconds from now (0 hands it back at once). */
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  counts(): Promise<{ visible: number; inFlight: number; delayed: number }>;
}
