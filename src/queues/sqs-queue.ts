import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { MessageQueue, QueueMessage, ReceiveOptions, SendOptions } from './message-queue.js';

export type { QueueMessage, ReceiveOptions } from './message-queue.js';

/** One SQS queue by URL (OSML's IMAGE_QUEUE, REGION_QUEUE, IMAGE_DLQ hold URLs). */
export class SqsQueue implements MessageQueue {
  constructor(private readonly sqs: SQSClient, readonly url: string) {}

  /** Sends a body (objects are sent as JSON) with optional string attributes; returns the message id. */
  async send(body: string | object, options: SendOptions = {}): Promise<string> {
    const MessageAttributes: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(options.attributes ?? {})) {
      if (value !== '') MessageAttributes[name] = { DataType: 'String', StringValue: value };
    }
    const out = await this.sqs.send(new SendMessageCommand({
      QueueUrl: this.url,
      MessageBody: typeof body === 'string' ? body : JSON.stringify(body),
      ...(Object.keys(MessageAttributes).length ? { MessageAttributes } : {}),
      ...(options.delaySeconds ? { DelaySeconds: options.delaySeconds } : {}),
    }));
    return out.MessageId!;
  }

  async receive(options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    const out = await this.sqs.send(new ReceiveMessageCommand({
      QueueUrl: this.url,
      MaxNumberOfMessages: Math.min(Math.max(options.max ?? 1, 1), 10),
      WaitTimeSeconds: options.waitSeconds ?? 20,
      ...(options.visibilityTimeout !== undefined ? { VisibilityTimeout: options.visibilityTimeout } : {}),
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      // The deprecated name as well: local-aws-sqs reads only this one; SQS accepts both.
      AttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }), { abortSignal: options.abortSignal });
    return (out.Messages ?? []).map((m) => ({
      id: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? '',
      attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).filter(([, v]) => v.StringValue !== undefined).map(([k, v]) => [k, v.StringValue!])),
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      sentAt: m.Attributes?.SentTimestamp ? Number(m.Attributes.SentTimestamp) : undefined,
    }));
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle }));
  }

  /** Sets a received message's remaining invisibility, seconds from now (0 hands it back at once). */
  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle, VisibilityTimeout: Math.max(0, Math.round(seconds)) }));
  }

  /**
   * Approximate message counts (health checks, tests). SQS counts visible and in-flight messages apart;
   * local-aws-sqs's `visible` also includes in-flight ones.
   */
  async counts(): Promise<{ visible: number; inFlight: number; delayed: number }> {
    const { Attributes = {} } = await this.sqs.send(new GetQueueAttributesCommand({
      QueueUrl: this.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }));
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }
}

/** Message attribute names on dead-letter messages sent by Tessera. */
export const DEAD_LETTER_ATTRIBUTES = { reason: 'reason', field: 'field', source: 'source_queue' } as const;

/**
 * Sends a message body to a dead-letter queue with the reason it was rejected (and the offending field, when
 * known) as message attributes, so nothing is dropped without a record of why. The body is kept verbatim.
 */
export async function sendToDeadLetterQueue(dlq: MessageQueue, body: string, reason: string, details: { field?: string; sourceQueueUrl?: string } = {}): Promise<string> {
  return dlq.send(body === '' ? '(empty message body)' : body, {
    attributes: {
      [DEAD_LETTER_ATTRIBUTES.reason]: truncate(reason || 'unspecified', 4096),
      ...(details.field ? { [DEAD_LETTER_ATTRIBUTES.field]: truncate(details.field, 1024) } : {}),
      ...(details.sourceQueueUrl ? { [DEAD_LETTER_ATTRIBUTES.source]: details.sourceQueueUrl } : {}),
    },
  });
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
