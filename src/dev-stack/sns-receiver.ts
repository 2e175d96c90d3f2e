import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for SNS that speaks the parts of its query API Tessera uses (CreateTopic, Publish) and keeps
 * every published message for inspection. No npm SNS server works here without Java or Docker; this is enough to
 * test status publishing over the real SDK wire format. `GET /messages` returns the log as JSON for other processes.
 */
export interface ReceivedSnsMessage {
  messageId: string;
  topicArn: string;
  message: string;
  subject?: string;
  /** Attribute name → { dataType, stringValue } as sent. */
  attributes: Record<string, { dataType: string; stringValue?: string }>;
  receivedAt: number;
}

export interface SnsReceiver {
  url: string;
  server: Server;
  createTopic(name: string): string;
  messages(topicArn?: string): ReceivedSnsMessage[];
  clear(): void;
  /** Makes the next `count` Publish calls fail with a 500 InternalError (tests of retry paths). */
  failNext(count: number): void;
  close(): Promise<void>;
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

export async function startSnsReceiver(options: { region?: string; accountId?: string; host?: string; port?: number } = {}): Promise<SnsReceiver> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const topics = new Set<string>();
  const log: ReceivedSnsMessage[] = [];
  let failures = 0;

  const arnOf = (name: string) => `arn:aws:sns:${region}:${accountId}:${name}`;

  const reply = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(body);
  };
  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.setHeader('x-amzn-query-error', `${code};${status < 500 ? 'Sender' : 'Receiver'}`);
    reply(res, status, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${status < 500 ? 'Sender' : 'Receiver'}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
  };
  const ok = (res: ServerResponse, action: string, result: string) =>
    reply(res, 200, `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`);

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    if (req.method === 'GET' && req.url?.startsWith('/messages')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(log));
      return;
    }
    if (req.method !== 'POST') return error(res, 400, 'InvalidAction', `unsupported method ${req.method}`);
    const form = new URLSearchParams(body);
    const action = form.get('Action');
    switch (action) {
      case 'CreateTopic': {
        const name = form.get('Name');
        if (!name) return error(res, 400, 'InvalidParameter', 'Name is required');
        topics.add(arnOf(name));
        return ok(res, 'CreateTopic', `<TopicArn>${escapeXml(arnOf(name))}</TopicArn>`);
      }
      case 'Publish': {
        if (failures > 0) {
          failures--;
          return error(res, 500, 'InternalError', 'injected failure');
        }
        const topicArn = form.get('TopicArn') ?? form.get('TargetArn');
        if (!topicArn || !topics.has(topicArn)) return error(res, 404, 'NotFound', `Topic does not exist: ${topicArn}`);
        const message = form.get('Message');
        if (message === null) return error(res, 400, 'InvalidParameter', 'Message is required');
        const attributes: ReceivedSnsMessage['attributes'] = {};
        for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
          const p = `MessageAttributes.entry.${i}`;
          const dataType = form.get(`${p}.Value.DataType`) ?? '';
          if (!dataType) return error(res, 400, 'InvalidParameterValue', `message attribute ${form.get(`${p}.Name`)} has no DataType`);
          attributes[form.get(`${p}.Name`)!] = { dataType, stringValue: form.get(`${p}.Value.StringValue`) ?? undefined };
        }
        const messageId = randomUUID();
        log.push({ messageId, topicArn, message, subject: form.get('Subject') ?? undefined, attributes, receivedAt: Date.now() });
        return ok(res, 'Publish', `<MessageId>${messageId}</MessageId>`);
      }
      default:
        return error(res, 400, 'InvalidAction', `action ${action} is not supported by the local SNS receiver`);
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    server,
    createTopic: (name) => {
      topics.add(arnOf(name));
      return arnOf(name);
    },
    messages: (topicArn) => (topicArn ? log.filter((m) => m.topicArn === topicArn) : [...log]),
    clear: () => void log.splice(0),
    failNext: (count) => void (failures = count),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
