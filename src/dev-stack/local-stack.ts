import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { AwsClients, ENDPOINT_ENV, type AwsConfig } from '../aws/clients.js';
import { ensureOsmlTables } from '../state/create-tables.js';
import { startSnsReceiver, type SnsReceiver } from './sns-receiver.js';
import { loadLocalSqs } from './local-sqs.js';

/**
 * A development and test stand-in for Tessera's AWS resources, every server on 127.0.0.1 at a free port:
 * dynalite (DynamoDB), local-aws-sqs (SQS), s3rver (S3), kinesalite (Kinesis) and a loopback SNS receiver.
 * It creates OSML's tables, the image and region queues with their dead-letter queues, an output bucket, an output
 * stream and the two status topics, and returns the environment a `tessera serve` process needs to use them.
 * The servers are dev dependencies and are imported only here, when the stack starts.
 */
export interface LocalStackOptions {
  /** Keep DynamoDB, Kinesis and S3 data here across restarts (SQS and SNS are in memory only). Default: a temp dir for S3, memory for the rest. */
  dataDir?: string;
  region?: string;
  /** Default visibility timeout of the two work queues, seconds (OSML's CDK uses 300 for regions). */
  visibilityTimeoutSeconds?: number;
  /** Receives before SQS moves a message to its dead-letter queue (OSML CDK: 3). */
  maxReceiveCount?: number;
  names?: Partial<LocalStackNames>;
}

export interface LocalStackNames {
  imageQueue: string;
  regionQueue: string;
  imageDlq: string;
  regionDlq: string;
  jobTable: string;
  regionTable: string;
  featureTable: string;
  endpointTable: string;
  outstandingTable: string;
  bucket: string;
  stream: string;
  imageTopic: string;
  regionTopic: string;
}

export const DEFAULT_LOCAL_STACK_NAMES: LocalStackNames = {
  imageQueue: 'tessera-image-requests',
  regionQueue: 'tessera-region-requests',
  imageDlq: 'tessera-image-dlq',
  regionDlq: 'tessera-region-dlq',
  jobTable: 'tessera-jobs',
  regionTable: 'tessera-regions',
  featureTable: 'tessera-features',
  endpointTable: 'tessera-endpoints',
  outstandingTable: 'tessera-outstanding-jobs',
  bucket: 'tessera-results',
  stream: 'tessera-results',
  imageTopic: 'tessera-image-status',
  regionTopic: 'tessera-region-status',
};

export interface LocalStack {
  /** Environment for a process using the stack: OSML's variables, TESSERA_*_ENDPOINT, region and dummy credentials. */
  env: Record<string, string>;
  /** SDK configuration with the loopback endpoints and dummy credentials. */
  config: AwsConfig;
  /** Clients on the stack (destroyed by stop()). */
  clients: AwsClients;
  names: LocalStackNames;
  queueUrls: { image: string; region: string; imageDlq: string; regionDlq: string };
  topicArns: { image: string; region: string };
  sns: SnsReceiver;
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

const HOST = '127.0.0.1';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    // SDK clients elsewhere may hold keep-alive sockets; close() alone would wait for them.
    server.closeAllConnections();
  });
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const region = options.region ?? 'us-east-1';
  const names = { ...DEFAULT_LOCAL_STACK_NAMES, ...options.names };
  const visibility = options.visibilityTimeoutSeconds ?? 30;
  const maxReceiveCount = options.maxReceiveCount ?? 5;
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };

  try {
    const [{ default: dynalite }, { default: kinesalite }, { default: S3rver }, { default: S3rverAccount }] = await Promise.all([
      import('dynalite'),
      import('kinesalite'),
      import('s3rver'),
      import('s3rver/lib/models/account.js'),
    ]);
    const { createRequestHandler } = loadLocalSqs();
    // s3rver knows only its own key pair (S3RVER/S3RVER); let it accept the stack's dummy credentials too.
    S3rverAccount.DUMMY_ACCOUNT.createKeyPair(LOCAL_CREDENTIALS.accessKeyId, LOCAL_CREDENTIALS.secretAccessKey);

    let s3Dir: string;
    if (options.dataDir) {
      await mkdir(join(options.dataDir, 'dynamodb'), { recursive: true });
      await mkdir(join(options.dataDir, 'kinesis'), { recursive: true });
      s3Dir = join(options.dataDir, 's3');
      await mkdir(s3Dir, { recursive: true });
    } else {
      s3Dir = await mkdtemp(join(tmpdir(), 'tessera-s3-'));
      cleanups.push(() => rm(s3Dir, { recursive: true, force: true }));
    }

    const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.dataDir ? { path: join(options.dataDir, 'dynamodb') } : {}) });
    const dynamoPort = await listen(dynamo);
    cleanups.push(() => closeServer(dynamo));

    const kinesis = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, ...(options.dataDir ? { path: join(options.dataDir, 'kinesis') } : {}) });
    const kinesisPort = await listen(kinesis);
    cleanups.push(() => closeServer(kinesis));

    // local-aws-sqs writes its own port into queue URLs, so bind first and build the handler with the real port.
    const sqsServer = createServer();
    const sqsPort = await listen(sqsServer);
    const { requestHandler } = createRequestHandler({ port: sqsPort, hostname: HOST, region, emulateQueueCreationLifecycle: false, emulateLazyQueues: false });
    sqsServer.on('request', (req, res) => void requestHandler(req, res));
    cleanups.push(() => closeServer(sqsServer));

    const s3 = new S3rver({ address: HOST, port: 0, silent: true, directory: s3Dir, vhostBuckets: false });
    const s3Address = await s3.run();
    cleanups.push(async () => {
      s3.httpServer?.closeAllConnections();
      await s3.close();
    });

    const sns = await startSnsReceiver({ region, host: HOST });
    cleanups.push(() => sns.close());

    const endpoints = {
      dynamodb: `http://${HOST}:${dynamoPort}`,
      kinesis: `http://${HOST}:${kinesisPort}`,
      sqs: `http://${HOST}:${sqsPort}`,
      s3: `http://${HOST}:${s3Address.port}`,
      sns: sns.url,
    };
    const config: AwsConfig = { region, endpoints, credentials: LOCAL_CREDENTIALS };
    const clients = new AwsClients(config);
    cleanups.push(async () => clients.destroy());

    const tableNames = { job: names.jobTable, region: names.regionTable, feature: names.featureTable, endpoint: names.endpointTable, outstanding: names.outstandingTable };

    const createQueue = async (name: string, dlqUrl?: string) => {
      let Attributes: Record<string, string> = { VisibilityTimeout: String(visibility) };
      if (dlqUrl) {
        const { Attributes: dlq } = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
        Attributes = { ...Attributes, RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq!.QueueArn, maxReceiveCount: maxReceiveCount }) };
      }
      const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }));
      return QueueUrl!;
    };

    const [imageDlq, regionDlq] = await Promise.all([createQueue(names.imageDlq), createQueue(names.regionDlq)]);
    const [image, regionQueue] = await Promise.all([createQueue(names.imageQueue, imageDlq), createQueue(names.regionQueue, regionDlq)]);

    await Promise.all([
      ensureOsmlTables(clients.dynamodb, tableNames),
      clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket })).catch((err) => {
        if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as Error).name)) throw err;
      }),
      (async () => {
        try {
          await clients.kinesis.send(new CreateStreamCommand({ StreamName: names.stream, ShardCount: 1 }));
        } catch (err) {
          if ((err as Error).name !== 'ResourceInUseException') throw err;
        }
        for (let i = 0; ; i++) {
          const { StreamDescriptionSummary } = await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: names.stream }));
          if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
          if (i > 200) throw new Error(`stream ${names.stream} did not become ACTIVE`);
          await new Promise((r) => setTimeout(r, 25));
        }
      })(),
    ]);

    const imageTopic = (await clients.sns.send(new CreateTopicCommand({ Name: names.imageTopic }))).TopicArn!;
    const regionTopic = (await clients.sns.send(new CreateTopicCommand({ Name: names.regionTopic }))).TopicArn!;

    const env: Record<string, string> = {
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      // Never probe the instance-metadata address from a development machine.
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_EMF_ENVIRONMENT: 'Local',
      [ENDPOINT_ENV.sqs]: endpoints.sqs,
      [ENDPOINT_ENV.dynamodb]: endpoints.dynamodb,
      [ENDPOINT_ENV.s3]: endpoints.s3,
      [ENDPOINT_ENV.kinesis]: endpoints.kinesis,
      [ENDPOINT_ENV.sns]: endpoints.sns,
      // GDAL's /vsis3/ reads s3:// images from the same S3 server.
      AWS_S3_ENDPOINT: `${HOST}:${s3Address.port}`,
      AWS_HTTPS: 'NO',
      AWS_VIRTUAL_HOSTING: 'FALSE',
      IMAGE_QUEUE: image,
      REGION_QUEUE: regionQueue,
      IMAGE_DLQ: imageDlq,
      REGION_DLQ: regionDlq,
      JOB_TABLE: names.jobTable,
      IMAGE_REQUEST_TABLE: names.jobTable,
      REGION_REQUEST_TABLE: names.regionTable,
      FEATURE_TABLE: names.featureTable,
      ENDPOINT_TABLE: names.endpointTable,
      OUTSTANDING_JOBS_TABLE: names.outstandingTable,
      OUTSTANDING_IMAGE_REQUEST_TABLE: names.outstandingTable,
      IMAGE_STATUS_TOPIC: imageTopic,
      REGION_STATUS_TOPIC: regionTopic,
      DDB_TTL_IN_DAYS: '1',
      TESSERA_OUTPUT_BUCKET: names.bucket,
      TESSERA_OUTPUT_STREAM: names.stream,
    };

    return {
      env,
      config,
      clients,
      names,
      queueUrls: { image, region: regionQueue, imageDlq, regionDlq },
      topicArns: { image: imageTopic, region: regionTopic },
      sns,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** `export NAME='value'` lines for a shell (what `tessera dev-stack` prints). */
export function formatEnvExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}
