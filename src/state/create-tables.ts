import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  type AttributeDefinition,
} from '@aws-sdk/client-dynamodb';
import type { TableNames } from './table-names.js';
import { TTL_ATTRIBUTE } from './ttl.js';

/** OSML's key schemas (CDK of OLD/NEW), all keys strings. Used by the dev stack and tests; production tables come from CDK. */
export const KEY_SCHEMAS = {
  job: [['image_id', 'HASH']],
  region: [['image_id', 'HASH'], ['region_id', 'RANGE']],
  feature: [['hash_key', 'HASH'], ['range_key', 'RANGE']],
  endpoint: [['endpoint', 'HASH']],
  outstanding: [['endpoint_id', 'HASH'], ['job_id', 'RANGE']],
} as const satisfies Record<keyof TableNames, readonly (readonly [string, 'HASH' | 'RANGE'])[]>;

/** Creates one table (on-demand billing, TTL on `expire_time`) unless it exists, and waits until it is ACTIVE. */
export async function ensureTable(ddb: DynamoDBClient, tableName: string, keys: readonly (readonly [string, 'HASH' | 'RANGE'])[], ttl = true): Promise<void> {
  const KeySchema: KeySchemaElement[] = keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType }));
  const AttributeDefinitions: AttributeDefinition[] = keys.map(([AttributeName]) => ({ AttributeName, AttributeType: 'S' }));
  try {
    await ddb.send(new CreateTableCommand({ TableName: tableName, KeySchema, AttributeDefinitions, BillingMode: 'PAY_PER_REQUEST' }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
  }
  for (let i = 0; ; i++) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (i > 600) throw new Error(`table ${tableName} did not become ACTIVE`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (ttl) {
    try {
      await ddb.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }));
    } catch (err) {
      // Already enabled, or a local server without TTL support: items still carry expire_time.
      const name = (err as { name?: string }).name;
      if (name !== 'ValidationException' && name !== 'UnknownOperationException') throw err;
    }
  }
}

/** Creates every named table with OSML's key schema and TTL on expire_time (the outstanding and endpoint tables only when named). */
export async function ensureOsmlTables(ddb: DynamoDBClient, names: TableNames): Promise<void> {
  await ensureTable(ddb, names.job, KEY_SCHEMAS.job);
  await ensureTable(ddb, names.region, KEY_SCHEMAS.region);
  await ensureTable(ddb, names.feature, KEY_SCHEMAS.feature);
  // Tessera's items in these carry expire_time too (OSML's do not), so a record a crash left behind expires.
  if (names.endpoint) await ensureTable(ddb, names.endpoint, KEY_SCHEMAS.endpoint);
  if (names.outstanding) await ensureTable(ddb, names.outstanding, KEY_SCHEMAS.outstanding);
}
