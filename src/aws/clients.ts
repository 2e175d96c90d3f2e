import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SNSClient } from '@aws-sdk/client-sns';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * Services Tessera talks to; each may be pointed at its own endpoint (a local server in development and tests).
 * `sagemaker` is the runtime API (InvokeEndpoint, runtime.sagemaker.*); `sagemakerApi` the control plane
 * (DescribeEndpoint, ListTags; api.sagemaker.*), read for endpoint capacity.
 */
export type AwsService = 'sqs' | 'dynamodb' | 's3' | 'kinesis' | 'sns' | 'sagemaker' | 'sagemakerApi' | 'sts';

/** Static keys or a provider function (same shape for every SDK client). */
export type AwsCredentials = NonNullable<SQSClientConfig['credentials']>;

export interface AwsConfig {
  region: string;
  /** Endpoint URL per service, e.g. `http://127.0.0.1:4566`. Absent: the SDK's regional endpoint. */
  endpoints?: Partial<Record<AwsService, string>>;
  /** Absent: the SDK's default provider chain (env, profile, container/instance role). */
  credentials?: AwsCredentials;
  /** SDK attempts per call (the SDK's standard retry strategy). */
  maxAttempts?: number;
}

/** Per-call overrides, e.g. credentials of a role assumed for one output bucket or stream. */
export interface ClientOverrides {
  credentials?: AwsCredentials;
  maxAttempts?: number;
}

/** Environment variables that point one service at another endpoint (ours; the dev stack sets them). */
export const ENDPOINT_ENV: Record<AwsService, string> = {
  sqs: 'TESSERA_SQS_ENDPOINT',
  dynamodb: 'TESSERA_DYNAMODB_ENDPOINT',
  s3: 'TESSERA_S3_ENDPOINT',
  kinesis: 'TESSERA_KINESIS_ENDPOINT',
  sns: 'TESSERA_SNS_ENDPOINT',
  sagemaker: 'TESSERA_SAGEMAKER_ENDPOINT',
  sagemakerApi: 'TESSERA_SAGEMAKER_API_ENDPOINT',
  sts: 'TESSERA_STS_ENDPOINT',
};

/**
 * AwsConfig from the environment: region from AWS_REGION or AWS_DEFAULT_REGION (OSML's name), endpoints from
 * TESSERA_<SERVICE>_ENDPOINT. Credentials are left to the SDK's provider chain, which reads AWS_ACCESS_KEY_ID etc.
 */
export function awsConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AwsConfig {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS region not set: set AWS_DEFAULT_REGION (or AWS_REGION)');
  const endpoints: Partial<Record<AwsService, string>> = {};
  for (const [service, name] of Object.entries(ENDPOINT_ENV) as [AwsService, string][]) {
    const value = env[name];
    if (value) endpoints[service] = value;
  }
  return { region, endpoints };
}

function base(config: AwsConfig, service: AwsService, overrides: ClientOverrides = {}) {
  const endpoint = config.endpoints?.[service];
  return {
    region: config.region,
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ?? config.credentials ? { credentials: overrides.credentials ?? config.credentials } : {}),
    ...(overrides.maxAttempts ?? config.maxAttempts ? { maxAttempts: overrides.maxAttempts ?? config.maxAttempts } : {}),
  };
}

export function createSqsClient(config: AwsConfig, overrides?: ClientOverrides): SQSClient {
  // The queue URL is the endpoint of record for SQS; with an explicit endpoint, calls go there instead.
  return new SQSClient({ ...base(config, 'sqs', overrides), useQueueUrlAsEndpoint: !config.endpoints?.sqs });
}

export function createDynamoDbClient(config: AwsConfig, overrides?: ClientOverrides): DynamoDBClient {
  return new DynamoDBClient(base(config, 'dynamodb', overrides));
}

export function createS3Client(config: AwsConfig, overrides?: ClientOverrides): S3Client {
  const custom = Boolean(config.endpoints?.s3);
  return new S3Client({
    ...base(config, 's3', overrides),
    // A custom endpoint (s3rver, MinIO, ...) has no per-bucket DNS names, and local servers do not understand the
    // SDK's default flexible checksums (aws-chunked bodies): ask for checksums only where the API requires them.
    ...(custom ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  });
}

export function createKinesisClient(config: AwsConfig, overrides?: ClientOverrides): KinesisClient {
  // HTTP/1.1 handler: kinesalite (and proxies in front of Kinesis) do not speak HTTP/2.
  return new KinesisClient({ ...base(config, 'kinesis', overrides), requestHandler: new NodeHttpHandler() });
}

export function createSnsClient(config: AwsConfig, overrides?: ClientOverrides): SNSClient {
  return new SNSClient(base(config, 'sns', overrides));
}

export function createSageMakerRuntimeClient(config: AwsConfig, overrides?: ClientOverrides & { requestTimeoutMs?: number }): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({
    ...base(config, 'sagemaker', overrides),
    ...(overrides?.requestTimeoutMs ? { requestHandler: new NodeHttpHandler({ requestTimeout: overrides.requestTimeoutMs }) } : {}),
  });
}

/**
 * SageMaker control plane (DescribeEndpoint, ListTags). Its endpoint: TESSERA_SAGEMAKER_API_ENDPOINT, else the
 * runtime's TESSERA_SAGEMAKER_ENDPOINT (one local server, e.g. LocalStack, serves both; and a setup that points
 * SageMaker at a local server never reaches AWS's control plane by accident), else the SDK's regional endpoint.
 * Short timeouts: a capacity lookup waits on this, and falls back to configuration when it fails.
 */
export function createSageMakerClient(config: AwsConfig, overrides?: ClientOverrides & { requestTimeoutMs?: number }): SageMakerClient {
  const endpoint = config.endpoints?.sagemakerApi ?? config.endpoints?.sagemaker;
  return new SageMakerClient({
    ...base(config, 'sagemakerApi', overrides),
    ...(endpoint ? { endpoint } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: overrides?.requestTimeoutMs ?? 10_000 }),
  });
}

export function createStsClient(config: AwsConfig, overrides?: ClientOverrides): STSClient {
  return new STSClient(base(config, 'sts', overrides));
}

/** One long-lived client per service (SDK clients pool connections; building one per call wastes them). */
export class AwsClients {
  private readonly cache = new Map<AwsService, { destroy(): void }>();

  constructor(readonly config: AwsConfig) {}

  private get<T extends { destroy(): void }>(service: AwsService, make: () => T): T {
    let client = this.cache.get(service) as T | undefined;
    if (!client) {
      client = make();
      this.cache.set(service, client);
    }
    return client;
  }

  get sqs(): SQSClient { return this.get('sqs', () => createSqsClient(this.config)); }
  get dynamodb(): DynamoDBClient { return this.get('dynamodb', () => createDynamoDbClient(this.config)); }
  get s3(): S3Client { return this.get('s3', () => createS3Client(this.config)); }
  get kinesis(): KinesisClient { return this.get('kinesis', () => createKinesisClient(this.config)); }
  get sns(): SNSClient { return this.get('sns', () => createSnsClient(this.config)); }
  get sagemakerRuntime(): SageMakerRuntimeClient { return this.get('sagemaker', () => createSageMakerRuntimeClient(this.config)); }
  get sagemaker(): SageMakerClient { return this.get('sagemakerApi', () => createSageMakerClient(this.config)); }
  get sts(): STSClient { return this.get('sts', () => createStsClient(this.config)); }

  /** Closes every client's connection pool. */
  destroy(): void {
    for (const client of this.cache.values()) client.destroy();
    this.cache.clear();
  }
}
