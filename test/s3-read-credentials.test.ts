// imageReadRole applied to the image's S3 reads (issue #5): the service's HEAD and every GDAL request of the object
// are signed with the assumed role's keys when the request names a role, with the service's keys otherwise, and
// jobs with different roles in one process at once each use their own. Everything runs on 127.0.0.1: s3rver behind
// a recording proxy, and a mock STS (test/helpers/s3-read-role.ts says why it is a mock).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import gdal from 'gdal-async';
import { AwsClients } from '../src/aws/clients.js';
import { imageReadAccess, READ_ROLE_REFRESH_MARGIN_MS } from '../src/aws/image-read-role.js';
import { describeRaster, type RasterInfo } from '../src/raster/raster-source.js';
import { bandHistograms } from '../src/raster/band-statistics.js';
import { WindowReader } from '../src/raster/window-reader.js';
import { objectsWithOptions, opensInFlight, RENEW_MARGIN_MS, s3ObjectOf } from '../src/raster/s3-read-credentials.js';
import type { SlotHandle } from '../src/raster/slot-pool.js';
import { resolveImagePath } from '../src/service/image-job.js';
import { servicePaths } from '../src/api/request-paths.js';
import { realFixture } from './helpers/cli.js';
import { startMockSts, startRecordingProxy, startS3rverProcess, type MockSts, type RecordingProxy, type S3rverProcess, type SeenS3Request } from './helpers/s3-read-role.js';

const BUCKET = 'images';
const ROLE_A = 'arn:aws:iam::123456789012:role/reada';
const ROLE_B = 'arn:aws:iam::123456789012:role/readb';
/** Its keys last 3 s, so a reader must renew them mid-read. */
const ROLE_SHORT = 'arn:aws:iam::123456789012:role/short';
/** The service's own keys (vitest.config.ts sets them in the environment, where GDAL and the SDK read them). */
const SERVICE_KEY = 'test';

let s3dir: string;
let s3rver: S3rverProcess;
let proxy: RecordingProxy;
let sts: MockSts;
let clients: AwsClients;

beforeAll(async () => {
  s3dir = mkdtempSync(join(tmpdir(), 'tessera-readrole-s3-'));
  s3rver = await startS3rverProcess(s3dir, [[SERVICE_KEY, 'test']]);
  const { port } = s3rver;
  proxy = await startRecordingProxy(port);
  sts = await startMockSts(s3rver.registerKeyPair, (role) => (role === ROLE_SHORT ? 3000 : 3600_000));
  clients = new AwsClients({ region: 'us-east-1', endpoints: { s3: proxy.url, sts: sts.url }, credentials: { accessKeyId: SERVICE_KEY, secretAccessKey: 'test' } });

  // GDAL's /vsis3/ on the proxy, with the service's keys from the environment.
  gdal.config.set('AWS_S3_ENDPOINT', proxy.hostPort);
  gdal.config.set('AWS_HTTPS', 'NO');
  gdal.config.set('AWS_VIRTUAL_HOSTING', 'FALSE');

  const direct = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: SERVICE_KEY, secretAccessKey: 'test' } });
  await direct.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const tiled = readFileSync(realFixture('world.byte.tif'));
  const strips = readFileSync(realFixture('n47_e034_3arc_v2.tif'));
  const nitf = readFileSync(realFixture('i_3001a.ntf'));
  for (const [key, body] of [
    ['a.tif', tiled], ['none.tif', tiled], ['b1.tif', tiled], ['b2.tif', nitf], ['b3.tif', tiled],
    ['c.tif', tiled], ['c.tif.copy', tiled], ['d.tif', strips], ['e.ntf', nitf],
  ] as const) {
    await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }
  direct.destroy();
});

afterAll(async () => {
  clients?.destroy();
  await proxy?.close();
  await sts?.close();
  await s3rver?.stop();
  if (s3dir) rmSync(s3dir, { recursive: true, force: true });
});

/** The requests for an object (and any file GDAL looks for next to it). */
const requestsOf = (key: string, from = 0): SeenS3Request[] => proxy.seen.slice(from).filter((r) => r.path === `/${BUCKET}/${key}` || r.path.startsWith(`/${BUCKET}/${key}.`) && !r.path.startsWith(`/${BUCKET}/${key}.copy`));
const keysOf = (requests: SeenS3Request[]) => [...new Set(requests.map((r) => `${r.keyId} ${r.token ?? '(no token)'}`))];
const issuedFor = (role: string) => sts.issued.filter((k) => k.roleArn === role);

function slotFor(bytes: number): SlotHandle {
  return { buffer: new SharedArrayBuffer(bytes), control: new SharedArrayBuffer(8), index: 0, ticket: 1, byteOffset: 0, byteLength: bytes };
}

/** What a job does with its image: HEAD, header, statistics, then every row of it through a WindowReader. */
async function readLikeAJob(key: string, role: string | undefined): Promise<RasterInfo> {
  const reads = imageReadAccess(clients, role);
  const path = await resolveImagePath(`s3://${BUCKET}/${key}`, reads.s3, servicePaths({}).images);
  expect(path).toBe(`/vsis3/${BUCKET}/${key}`);
  const info = await describeRaster(path, { readCredentials: reads.credentials });
  await bandHistograms(info, [0]);
  const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 2, info.readCredentials);
  try {
    const rows = 256;
    const slot = slotFor(info.width * rows * info.bandCount * 8);
    await Promise.all(Array.from({ length: Math.ceil(info.height / rows) }, (_, i) =>
      reader.read({ x: 0, y: i * rows, width: info.width, height: Math.min(rows, info.height - i * rows) }, slotFor(slot.byteLength))));
  } finally {
    reader.close();
  }
  return info;
}

describe('imageReadRole on S3 reads', () => {
  test('with a role, the HEAD and every GDAL request carry the role\'s keys and session token', async () => {
    const from = proxy.seen.length;
    const info = await readLikeAJob('a.tif', ROLE_A);
    expect(info.readCredentials?.principal).toBe(ROLE_A);

    const requests = requestsOf('a.tif', from);
    const [keys] = issuedFor(ROLE_A);
    expect(keysOf(requests)).toEqual([`${keys.accessKeyId} ${keys.sessionToken}`]);
    expect(requests.filter((r) => r.method === 'HEAD')).toHaveLength(1); // resolveImagePath
    expect(requests.filter((r) => r.method === 'GET' && r.range).length).toBeGreaterThan(1); // GDAL's range reads
    expect(requests.every((r) => r.status !== 403)).toBe(true); // s3rver checked every signature with the role's secret

    // The role was assumed once (the keys are cached), by the service, with OSML's session name.
    expect(sts.calls.filter((c) => c.form.get('RoleArn') === ROLE_A)).toHaveLength(1);
    const call = sts.calls.find((c) => c.form.get('RoleArn') === ROLE_A)!;
    expect(call.keyId).toBe(SERVICE_KEY);
    expect(call.form.get('RoleSessionName')).toBe('AWSOversightMLModelRunner');
    // Options exist only while an object is being opened.
    expect(objectsWithOptions()).toEqual([]);
    expect(opensInFlight()).toBe(0);
  });

  test('without a role, the same reads carry the service\'s keys and no session token', async () => {
    const from = proxy.seen.length;
    const info = await readLikeAJob('none.tif', undefined);
    expect(info.readCredentials).toBeUndefined();
    const requests = requestsOf('none.tif', from);
    expect(keysOf(requests)).toEqual([`${SERVICE_KEY} (no token)`]);
    expect(requests.some((r) => r.method === 'HEAD')).toBe(true);
    expect(requests.some((r) => r.method === 'GET' && r.range)).toBe(true);
  });

  test('jobs with different roles (or none) at the same time each read with their own keys', async () => {
    const from = proxy.seen.length;
    await Promise.all([readLikeAJob('b1.tif', ROLE_A), readLikeAJob('b2.tif', ROLE_B), readLikeAJob('b3.tif', undefined), readLikeAJob('b1.tif', ROLE_A)]);
    const [a] = issuedFor(ROLE_A);
    const [b] = issuedFor(ROLE_B);
    expect(keysOf(requestsOf('b1.tif', from))).toEqual([`${a.accessKeyId} ${a.sessionToken}`]);
    expect(keysOf(requestsOf('b2.tif', from))).toEqual([`${b.accessKeyId} ${b.sessionToken}`]);
    expect(keysOf(requestsOf('b3.tif', from))).toEqual([`${SERVICE_KEY} (no token)`]);
    for (const key of ['b1.tif', 'b2.tif', 'b3.tif']) expect(requestsOf(key, from).some((r) => r.method === 'GET' && r.range)).toBe(true);
    expect(objectsWithOptions()).toEqual([]);
  });

  test('one object opened as two roles at once: each open is authorised with its own keys; a longer key is not affected', async () => {
    const from = proxy.seen.length;
    // c.tif.copy starts with "c.tif": GDAL would apply c.tif's options to it, so its open waits for theirs.
    await Promise.all([
      describeRaster('/vsis3/images/c.tif', { readCredentials: imageReadAccess(clients, ROLE_A).credentials }),
      describeRaster('/vsis3/images/c.tif', { readCredentials: imageReadAccess(clients, ROLE_B).credentials }),
      describeRaster('/vsis3/images/c.tif.copy'),
      describeRaster('/vsis3/images/c.tif', { readCredentials: imageReadAccess(clients, ROLE_A).credentials }),
    ]);
    const [a] = issuedFor(ROLE_A);
    const [b] = issuedFor(ROLE_B);
    const c = requestsOf('c.tif', from);
    // GDAL's cache of the object is dropped when it is opened as another role, so S3 sees both.
    expect(keysOf(c).sort()).toEqual([`${a.accessKeyId} ${a.sessionToken}`, `${b.accessKeyId} ${b.sessionToken}`].sort());
    expect(c.every((r) => r.status !== 403)).toBe(true);
    const copy = proxy.seen.slice(from).filter((r) => r.path === `/${BUCKET}/c.tif.copy`);
    expect(copy.length).toBeGreaterThan(0);
    expect(keysOf(copy)).toEqual([`${SERVICE_KEY} (no token)`]);
    expect(objectsWithOptions()).toEqual([]);
    expect(opensInFlight()).toBe(0);
  });

  test('a NITF image segment path reads with the role too', async () => {
    const from = proxy.seen.length;
    const info = await describeRaster('/vsis3/images/e.ntf', { readCredentials: imageReadAccess(clients, ROLE_B).credentials, imageSegment: 0 });
    expect(s3ObjectOf(`NITF_IM:1:${info.gdalPath}`)).toBe('/vsis3/images/e.ntf');
    expect(s3ObjectOf('/vsisubfile/0_100,/vsis3/images/e.ntf')).toBe('/vsis3/images/e.ntf');
    expect(s3ObjectOf('/data/vsis3/images/e.ntf')).toBeNull();
    expect(s3ObjectOf('/vsis3/bucket-only')).toBeNull();
    await bandHistograms(info, [0]);
    const [b] = issuedFor(ROLE_B);
    expect(keysOf(requestsOf('e.ntf', from))).toEqual([`${b.accessKeyId} ${b.sessionToken}`]);
  });

  test('a reader opens its handles again with new keys before the ones it holds expire', async () => {
    expect(READ_ROLE_REFRESH_MARGIN_MS).toBeGreaterThan(RENEW_MARGIN_MS); // else a reopen could get the old keys back
    const credentials = imageReadAccess(clients, ROLE_SHORT).credentials;
    const info = await describeRaster('/vsis3/images/d.tif', { readCredentials: credentials });
    const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 1, credentials);
    try {
      const window = (y: number) => ({ x: 0, y, width: info.width, height: 30 });
      const slot = slotFor(info.width * 30 * 8);
      let from = proxy.seen.length;
      await reader.read(window(0), slot);
      const before = keysOf(requestsOf('d.tif', from));
      // The keys last 3 s: the handle is due for renewal half-way, 1.5 s after they were issued.
      await new Promise((r) => setTimeout(r, 2000));
      from = proxy.seen.length;
      const issuedBefore = issuedFor(ROLE_SHORT).length;
      await reader.read(window(info.height - 30), slot);
      const after = requestsOf('d.tif', from);
      expect(issuedFor(ROLE_SHORT).length).toBeGreaterThan(issuedBefore);
      const latest = issuedFor(ROLE_SHORT).at(-1)!;
      expect(after.length).toBeGreaterThan(0);
      expect(keysOf(after)).toEqual([`${latest.accessKeyId} ${latest.sessionToken}`]);
      expect(before).not.toContain(`${latest.accessKeyId} ${latest.sessionToken}`);
    } finally {
      reader.close();
    }
  });
});
