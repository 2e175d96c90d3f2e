// Helpers for the service tests: `tessera serve` child processes on a local stack, and readers for its outputs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import gdal from 'gdal-async';
import type { LocalStack } from '../../src/dev-stack/local-stack.js';
import { fromItem } from '../../src/state/attribute-values.js';
import { cliPath, repoRoot } from './cli.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(intervalMs);
  }
}

export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  [k: string]: unknown;
}

export interface ServeProcess {
  name: string;
  process: ChildProcess;
  healthUrl: string;
  logs: LogLine[];
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/** `tessera serve` as a child process with the stack's environment; resolves once it logs that it is ready. */
export function startServe(name: string, env: Record<string, string>): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'serve'], {
      cwd: repoRoot,
      env: { ...process.env, TESSERA_HEALTH_PORT: '0', TESSERA_RECEIVE_WAIT_SECONDS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: LogLine[] = [];
    let out = '', err = '', partial = '';
    const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          continue;
        }
        logs.push(parsed);
        for (const w of [...waiters]) {
          if (w.pred(parsed)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      }
    });
    const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 60_000) => {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${name}: no matching log line within ${timeoutMs} ms\n${err.slice(-4000)}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => (clearTimeout(t), res(l)) });
      });
    };
    void exited.then((code) => reject(new Error(`${name} exited with ${code} before it was ready:\n${err}`)));
    waitForLog((l) => l.msg === 'tessera serve ready', 30_000).then((ready) => {
      resolve({
        name,
        process: child,
        healthUrl: ready.health as string,
        logs,
        stdout: () => out,
        stderr: () => err,
        exited,
        waitForLog,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          return exited;
        },
        kill: async () => {
          if (child.exitCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    }, reject);
  });
}

export async function readS3Text(stack: LocalStack, bucket: string, key: string): Promise<string> {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToString('utf8');
}

/** Every record of the stack's stream (one shard), from the start. */
export async function kinesisRecords(stack: LocalStack, stream: string): Promise<{ partitionKey: string; data: string }[]> {
  const { StreamDescription } = await stack.clients.kinesis.send(new DescribeStreamCommand({ StreamName: stream }));
  const records: { partitionKey: string; data: string }[] = [];
  for (const shard of StreamDescription!.Shards ?? []) {
    let { ShardIterator } = await stack.clients.kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    for (let i = 0; ShardIterator && i < 100; i++) {
      const out = await stack.clients.kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      for (const r of out.Records ?? []) records.push({ partitionKey: r.PartitionKey!, data: Buffer.from(r.Data!).toString('utf8') });
      if (!out.Records?.length || out.MillisBehindLatest === 0) break;
      ShardIterator = out.NextShardIterator;
    }
  }
  return records;
}

/** Every item of a table with the given partition key (e.g. all regions of an image). */
export async function queryItems(stack: LocalStack, table: string, key: string, value: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
  do {
    const out = await stack.clients.dynamodb.send(new QueryCommand({ TableName: table, KeyConditionExpression: '#k = :v', ExpressionAttributeNames: { '#k': key }, ExpressionAttributeValues: { ':v': { S: value } }, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of out.Items ?? []) items.push(fromItem(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** A georeferenced (EPSG:4326) single-band Byte GeoTIFF with a gradient, written with GDAL. */
export function writeTestImage(path: string, width: number, height: number): void {
  const ds = gdal.open(path, 'w', 'GTiff', width, height, 1, gdal.GDT_Byte, ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256']);
  ds.srs = gdal.SpatialReference.fromEPSG(4326);
  ds.geoTransform = [30, 0.00001, 0, 10, 0, -0.00001];
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = (x * 7 + y * 3) & 0xff;
  ds.bands.get(1).pixels.write(0, 0, width, height, data);
  ds.close();
}

/**
 * A georeferenced 3-band Byte GeoTIFF whose pixels say where they are: R = x & 255, G = y & 255,
 * B = (x >> 8) | (y >> 8) << 4, so the first pixel of a tile the model receives names the tile (tileOriginOf).
 */
export function writePositionImage(path: string, width: number, height: number): void {
  if (width > 4096 || height > 4096) throw new Error('position images encode x and y in 12 bits');
  const ds = gdal.open(path, 'w', 'GTiff', width, height, 3, gdal.GDT_Byte, ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'PHOTOMETRIC=RGB']);
  ds.srs = gdal.SpatialReference.fromEPSG(4326);
  ds.geoTransform = [30, 0.00001, 0, 10, 0, -0.00001];
  const bands = [new Uint8Array(width * height), new Uint8Array(width * height), new Uint8Array(width * height)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      bands[0][i] = x & 0xff;
      bands[1][i] = y & 0xff;
      bands[2][i] = (x >> 8) | ((y >> 8) << 4);
    }
  }
  bands.forEach((data, b) => ds.bands.get(b + 1).pixels.write(0, 0, width, height, data));
  ds.close();
}

let tileFileCounter = 0;

/** `x,y` of the tile whose encoded bytes (any format GDAL reads) came from a writePositionImage image; undefined if not one. */
export function tileOriginOf(bytes: Buffer): string | undefined {
  const path = `/vsimem/tessera-tile-origin-${process.pid}-${tileFileCounter++}`;
  gdal.vsimem.set(bytes, path);
  try {
    const ds = gdal.open(path);
    try {
      if (ds.bands.count() < 3) return undefined;
      const [r, g, b] = [1, 2, 3].map((band) => ds.bands.get(band).pixels.get(0, 0));
      return `${r | ((b & 0x0f) << 8)},${g | ((b >> 4) << 8)}`;
    } finally {
      ds.close();
    }
  } catch {
    return undefined;
  } finally {
    gdal.vsimem.release(path);
  }
}

/**
 * A loopback proxy in front of a model server that counts, per tile origin (tileOriginOf), the requests it
 * received, then forwards each one unchanged and returns the model's answer.
 */
export async function startCountingProxy(target: string): Promise<{ url: string; sent: Map<string, number>; unrecognised: () => number; close(): Promise<void> }> {
  const sent = new Map<string, number>();
  let unrecognised = 0;
  const server = createServer((req, res) => {
    res.on('error', () => undefined); // the sender may be gone (killed) before the answer
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (async () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') {
        const origin = tileOriginOf(body);
        if (origin) sent.set(origin, (sent.get(origin) ?? 0) + 1);
        else unrecognised++;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !['host', 'connection', 'content-length'].includes(k)) headers[k] = String(v);
      try {
        const answer = await fetch(`${target}${req.url}`, { method: req.method, headers, ...(req.method === 'POST' ? { body } : {}) });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      } catch (err) {
        res.writeHead(502);
        res.end(String(err));
      }
    })());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    sent,
    unrecognised: () => unrecognised,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Features of a FeatureCollection text. */
export function featuresOf(text: string): Array<{ geometry: { type: string; coordinates: unknown } | null; properties: Record<string, any> }> {
  return JSON.parse(text).features;
}
