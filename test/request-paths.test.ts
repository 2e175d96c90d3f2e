// What an image request may make the process read and write: in the service, image URLs are s3://bucket/key or
// plain absolute paths inside the operator's folder (never a GDAL /vsi... path, another scheme or a driver prefix),
// and File outputs are refused unless the operator allows a folder, then kept inside it, symlinks included.
// `tessera run` keeps accepting the user's own paths.
import { beforeAll, describe, expect, test } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { InvalidRequestError } from '../src/api/image-request.js';
import { LOCAL_RUN_PATHS, parseModelUrlPrefixes, servicePaths, type RequestPaths } from '../src/api/request-paths.js';
import { ImageInputError, parseServiceRequest, resolveImagePath } from '../src/service/image-job.js';
import { FileSink } from '../src/sinks/sink.js';
import { sinksForOutputs } from '../src/sinks/sink-factory.js';
import { handleImageMessage } from '../src/service/image-handler.js';
import { MemoryQueue } from '../src/queues/memory-queue.js';
import { memoryServiceContext } from './helpers/service-context.js';

let root: string; // real path of a scratch folder
let images: string;
let outputs: string;
let outside: string;
beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'tessera-paths-')));
  images = join(root, 'images');
  outputs = join(root, 'out');
  outside = join(root, 'outside');
  for (const d of [images, outputs, outside, join(outputs, 'sub')]) mkdirSync(d);
  writeFileSync(join(images, 'a.tif'), 'x');
  writeFileSync(join(outside, 'secret.tif'), 'x');
  writeFileSync(join(outside, 'victim.txt'), 'keep me');
  symlinkSync(join(images, 'a.tif'), join(images, 'link-in.tif'));
  symlinkSync(join(outside, 'secret.tif'), join(images, 'link-out.tif'));
  symlinkSync(outside, join(outputs, 'escape'));
  symlinkSync(join(outside, 'victim.txt'), join(outputs, 'victim.geojson'));
});

const request = (extra: Record<string, unknown>) => ({
  jobId: 'j',
  imageUrls: ['s3://bucket/k.ntf'],
  outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p' }],
  imageProcessor: { name: 'http://127.0.0.1:8080/invocations', type: 'HTTP_ENDPOINT' },
  ...extra,
});
const problems = (extra: Record<string, unknown>, paths: RequestPaths): string[] => {
  try {
    parseServiceRequest(JSON.stringify(request(extra)), paths);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return (err as InvalidRequestError).problems;
  }
};
const urlProblems = (url: string, paths: RequestPaths) => problems({ imageUrls: [url] }, paths);
const noS3 = (): S3Client => {
  throw new Error('no S3 here');
};

describe('image URLs', () => {
  test('the service: s3://bucket/key, or an absolute path inside TESSERA_LOCAL_IMAGE_DIR', () => {
    const paths = servicePaths({ imageDir: images });
    for (const ok of ['s3://bucket/a/b.ntf', 's3://Legacy_Bucket/k.tif', `${images}/a.tif`, `${images}/sub/../a.tif`]) expect(urlProblems(ok, paths), ok).toEqual([]);
    const rejected: [string, string][] = [
      ['/vsicurl/http://169.254.169.254/latest/meta-data/', 'GDAL virtual file system paths (/vsi...) are not accepted'],
      ['/vsis3/other-bucket/key.ntf', 'GDAL virtual file system paths (/vsi...) are not accepted'],
      ['/VSICURL/http://127.0.0.1/x', 'GDAL virtual file system paths (/vsi...) are not accepted'],
      ['https://example.com/a.tif', 'only s3://bucket/key URLs and local paths are supported'],
      ['file:///etc/passwd', 'only s3://bucket/key URLs and local paths are supported'],
      ['s3://bucket', 'is not an s3://bucket/key URL'],
      ['s3://bucket/', 'is not an s3://bucket/key URL'],
      ['s3://bucket/a/../../other-bucket/k.ntf', 'is not an s3://bucket/key URL'],
      ['NITF_IM:0:/data/x.ntf', 'GDAL driver-prefixed names are not accepted'],
      ['images/a.tif', 'a local image path must be absolute'],
      ['/etc/passwd', 'is outside the folder this service reads local images from (TESSERA_LOCAL_IMAGE_DIR)'],
      [`${images}/../outside/secret.tif`, 'is outside the folder'],
      [`${images}-other/a.tif`, 'is outside the folder'],
    ];
    for (const [url, why] of rejected) {
      const p = urlProblems(url, paths);
      expect(p, url).toHaveLength(1);
      expect(p[0], url).toMatch(/^imageUrls\[0\]: /);
      expect(p[0], url).toContain(why);
    }
    // Without a folder, local paths are refused altogether.
    expect(urlProblems(`${images}/a.tif`, servicePaths({}))).toEqual([
      `imageUrls[0]: ${JSON.stringify(`${images}/a.tif`)}: local image paths are not accepted by this service (use s3://bucket/key; its operator can allow a folder with TESSERA_LOCAL_IMAGE_DIR)`,
    ]);
  });

  test('tessera run: any local path GDAL opens (the user\'s own), still no other URL scheme or key-less s3 URL', () => {
    for (const ok of ['/vsicurl/http://127.0.0.1/x.tif', 'NITF_IM:1:/data/x.ntf', 'relative/x.tif', '/etc/hosts']) expect(urlProblems(ok, LOCAL_RUN_PATHS), ok).toEqual([]);
    expect(urlProblems('https://example.com/a.tif', LOCAL_RUN_PATHS)[0]).toMatch(/^imageUrls\[0\]: .*only s3:\/\/bucket\/key URLs and local paths/);
    expect(urlProblems('s3://bucket', LOCAL_RUN_PATHS)[0]).toMatch(/^imageUrls\[0\]: .*is not an s3:\/\/bucket\/key URL/);
  });

  test('what GDAL opens is the real path, checked again: a symlink cannot lead out of the folder', async () => {
    const scope = servicePaths({ imageDir: images }).images;
    expect(await resolveImagePath(join(images, 'link-in.tif'), noS3, scope)).toBe(join(images, 'a.tif'));
    await expect(resolveImagePath(join(images, 'link-out.tif'), noS3, scope)).rejects.toThrow(new ImageInputError(`imageUrls[0]: ${JSON.stringify(join(images, 'link-out.tif'))} leads outside the folder this service reads local images from (TESSERA_LOCAL_IMAGE_DIR) through a symlink`));
    await expect(resolveImagePath(join(images, 'missing.tif'), noS3, scope)).rejects.toThrow(`imageUrls[0]: image ${join(images, 'missing.tif')} does not exist`);
    // Whoever calls it, a virtual file system path never gets through, even with a folder allowed.
    await expect(resolveImagePath('/vsicurl/http://127.0.0.1:1/x', noS3, scope)).rejects.toThrow(ImageInputError);
    await expect(resolveImagePath('s3://bucket', noS3, scope)).rejects.toThrow(/is not an s3:\/\/bucket\/key URL/);
    // tessera run: as given.
    expect(await resolveImagePath('relative/x.tif', noS3, LOCAL_RUN_PATHS.images)).toBe('relative/x.tif');
  });
});

describe('File outputs', () => {
  const file = (...paths: string[]) => ({ outputs: [{ type: 'S3', bucket: 'bkt', prefix: 'p' }, ...paths.map((path) => ({ type: 'File', path }))] });

  test('the service refuses them unless TESSERA_FILE_OUTPUT_DIR is set, then keeps them inside it', () => {
    expect(problems(file('/etc/cron.d/evil'), servicePaths({}))).toEqual(['outputs[1].path: File outputs are not accepted by this service (its operator can allow a folder with TESSERA_FILE_OUTPUT_DIR)']);
    const paths = servicePaths({ fileOutputDir: outputs });
    expect(problems(file('a.geojson', 'sub/b.geojson', `${outputs}/c.geojson`), paths)).toEqual([]);
    for (const bad of ['/etc/cron.d/evil', '../evil.geojson', 'sub/../../evil.geojson', outputs, `${outputs}-other/x.geojson`]) {
      expect(problems(file(bad), paths), bad).toEqual([`outputs[1].path: ${JSON.stringify(bad)} is not a file inside the folder this service writes File outputs to (TESSERA_FILE_OUTPUT_DIR)`]);
    }
    expect(problems(file('/anywhere/at/all.geojson'), LOCAL_RUN_PATHS)).toEqual([]);
  });

  test('a File output the service could not write is refused with the request, before any work: missing folder, existing folder, symlinked folder leading out', () => {
    const paths = servicePaths({ fileOutputDir: outputs });
    // A folder inside that is a symlink to a folder inside is fine; the name may be a symlink (it is replaced).
    expect(problems(file('sub/x.geojson', 'victim.geojson'), paths)).toEqual([]);
    expect(problems(file('missing/x.geojson', 'sub', 'escape/x.geojson', 'sub/deeper/x.geojson'), paths)).toEqual([
      `outputs[1].path: File output missing/x.geojson: folder ${join(outputs, 'missing')} does not exist`,
      'outputs[2].path: File output sub is an existing folder',
      'outputs[3].path: File output escape/x.geojson leads outside the folder this service writes File outputs to (TESSERA_FILE_OUTPUT_DIR) through a symlink',
      `outputs[4].path: File output sub/deeper/x.geojson: folder ${join(outputs, 'sub', 'deeper')} does not exist`,
    ]);
    // A file where a folder should be.
    writeFileSync(join(outputs, 'plain.txt'), 'x');
    expect(problems(file('plain.txt/x.geojson', 'plain.txt/sub/x.geojson'), paths)).toEqual([
      `outputs[1].path: File output plain.txt/x.geojson: ${join(outputs, 'plain.txt')} is not a folder`,
      `outputs[2].path: File output plain.txt/sub/x.geojson: ${join(outputs, 'plain.txt', 'sub')} is not a folder`,
    ]);
  });

  test('an existing folder at the name fails the sink with the same reason as the request check', async () => {
    const scope = servicePaths({ fileOutputDir: outputs }).fileOutputs;
    await expect(new FileSink('sub', scope).write(() => [], { jobId: 'j' })).rejects.toThrow('File output sub is an existing folder');
    await expect(new FileSink('missing/x.geojson', scope).write(() => [], { jobId: 'j' })).rejects.toThrow(`File output missing/x.geojson: folder ${join(outputs, 'missing')} does not exist`);
  });

  test('written inside the folder; a symlinked folder leading out fails the sink, a symlink at the name is replaced, not followed', async () => {
    const scope = servicePaths({ fileOutputDir: outputs }).fileOutputs;
    const features = [{ type: 'Feature' as const, geometry: null, properties: { n: 1 } }];
    const [sink] = sinksForOutputs([{ type: 'File', path: 'sub/job.geojson' }], { s3: noS3, kinesis: () => { throw new Error('no Kinesis'); } }, scope);
    expect(await sink.write(() => features, { jobId: 'j' })).toEqual({ featuresWritten: 1, location: join(outputs, 'sub', 'job.geojson') });
    expect(JSON.parse(readFileSync(join(outputs, 'sub', 'job.geojson'), 'utf8')).features).toEqual(features);

    await expect(new FileSink('escape/job.geojson', scope).write(() => features, { jobId: 'j' })).rejects.toThrow('File output escape/job.geojson leads outside the folder this service writes File outputs to (TESSERA_FILE_OUTPUT_DIR) through a symlink');
    expect(existsSync(join(outside, 'job.geojson'))).toBe(false);

    await new FileSink('victim.geojson', scope).write(() => features, { jobId: 'j' });
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('keep me');
    expect(JSON.parse(readFileSync(join(outputs, 'victim.geojson'), 'utf8')).features).toEqual(features);

    // Refused scope: the sink fails even if a stored request carried a File output.
    await expect(new FileSink(join(outputs, 'x.geojson'), servicePaths({}).fileOutputs).write(() => features, { jobId: 'j' })).rejects.toThrow(/File outputs are not accepted/);
  });
});

describe('S3 and Kinesis outputs', () => {
  const output = (o: object) => problems({ outputs: [o] }, servicePaths({}));
  test('bucket names S3 would refuse are refused with the request (AWS naming rules; legacy us-east-1 names kept)', () => {
    for (const ok of ['bkt', 'my-results.2024', 'a'.repeat(63), 'Legacy_Bucket', 'x'.repeat(255)]) expect(output({ type: 'S3', bucket: ok, prefix: 'p/' }), ok).toEqual([]);
    const why = (name: string) => `outputs[0].bucket: ${JSON.stringify(name)} is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit, no ".." and not an IP address; legacy us-east-1 names may also have capitals and underscores, up to 255)`;
    for (const bad of ['Bad_Bucket!', 'b', 'ab', '-bkt', 'bkt-', 'b..kt', '192.168.1.1', 'has space', 'x'.repeat(256), 'bkt/sub']) expect(output({ type: 'S3', bucket: bad, prefix: 'p/' }), bad).toEqual([why(bad)]);
    // The legacy outputBucket names its own field.
    expect(problems({ outputs: undefined, outputBucket: 'Bad_Bucket!', outputPrefix: 'p/' }, servicePaths({}))).toEqual([why('Bad_Bucket!').replace('outputs[0].bucket', 'outputBucket')]);
    // The image URL's bucket follows the same rule.
    expect(problems({ imageUrls: ['s3://Bad_Bucket!/k.ntf'] }, servicePaths({}))[0]).toMatch(/^imageUrls\[0\]: "s3:\/\/Bad_Bucket!\/k.ntf" is not an s3:\/\/bucket\/key URL/);
  });

  test('an object key over S3\'s 1024 bytes and stream names Kinesis would refuse are refused with the request', () => {
    // "<prefix>/" + "j.geojson" (9 bytes): a prefix of 1014 + "/" makes 1024.
    expect(output({ type: 'S3', bucket: 'bkt', prefix: `${'p'.repeat(1014)}/` })).toEqual([]);
    expect(output({ type: 'S3', bucket: 'bkt', prefix: `${'p'.repeat(1015)}/` })).toEqual(['outputs[0].prefix: makes the object key "<prefix>/<jobId>.geojson" 1025 bytes (UTF-8); at most 1024 (S3\'s limit)']);
    expect(output({ type: 'Kinesis', stream: 'my_stream-1.x' })).toEqual([]);
    expect(output({ type: 'Kinesis', stream: 'no/slash' })).toEqual(['outputs[0].stream: "no/slash" is not a Kinesis stream name (1 to 128 letters, digits, underscores, dots and hyphens)']);
    expect(output({ type: 'Kinesis', stream: 's'.repeat(129) })).toHaveLength(1);
  });
});

test('the image handler dead-letters these before any work, naming the field: no job is recorded', async () => {
  const imageDlq = new MemoryQueue('local://image-dlq');
  const ctx = memoryServiceContext({ imageDlq });
  ctx.config.paths = servicePaths({ imageDir: images, fileOutputDir: outputs });
  const cases: [object, string][] = [
    [{ outputs: [{ type: 'S3', bucket: 'Bad_Bucket!', prefix: 'p/' }] }, 'outputs[0].bucket'],
    [{ outputs: [{ type: 'File', path: 'missing/x.geojson' }] }, 'outputs[0].path'],
    [{ outputs: [{ type: 'File', path: 'sub' }] }, 'outputs[0].path'],
    [{ outputs: [{ type: 'File', path: 'escape/x.geojson' }] }, 'outputs[0].path'],
    [{ imageProcessorParameters: { CustomAttributes: 5 } }, 'imageProcessorParameters.CustomAttributes'],
  ];
  for (const [i, [extra, field]] of cases.entries()) {
    const body = JSON.stringify(request({ jobId: `refused-${i}`, imageUrls: [join(images, 'a.tif')], ...extra }));
    expect(await handleImageMessage(ctx, { id: `m-${i}`, receiptHandle: `h-${i}`, body, attributes: {}, receiveCount: 1 }, { signal: new AbortController().signal })).toBe('delete');
    const dead = imageDlq.peek().at(-1)!;
    expect(dead.body).toBe(body);
    expect(dead.attributes.field).toBe(field);
    expect(dead.attributes.reason.startsWith(`invalid image request: ${field}: `), dead.attributes.reason).toBe(true);
    expect(await ctx.jobs.get(`refused-${i}:${join(images, 'a.tif')}`)).toBeUndefined();
  }
  expect(imageDlq.peek()).toHaveLength(cases.length);
});

describe('HTTP model URLs (TESSERA_HTTP_MODEL_URLS)', () => {
  const model = (name: string, paths: RequestPaths) => problems({ imageProcessor: { name, type: 'HTTP_ENDPOINT' } }, paths);
  const notAllowed = (name: string) => [`imageProcessor.name: ${JSON.stringify(name)} is not a model endpoint this service may call (its operator lists them in TESSERA_HTTP_MODEL_URLS)`];

  test('unset: any http(s) URL, as OSML', () => {
    expect(model('http://169.254.169.254/latest/meta-data/', servicePaths({}))).toEqual([]);
  });

  test('set: only URLs under a prefix, compared as parsed URLs (scheme, host and port exactly, the path at a segment boundary)', () => {
    const paths = servicePaths({ httpModelUrls: parseUrls('http://models.internal:8080/v1, https://detector.example.com/') });
    for (const ok of [
      'http://models.internal:8080/v1',
      'http://models.internal:8080/v1/invocations',
      'http://MODELS.internal:8080/v1/a/../invocations?x=1', // host case and .. segments normalised: /v1/invocations
      'https://detector.example.com/invocations',
      'https://detector.example.com:443/x', // the default port is the same port
    ]) expect(model(ok, paths), ok).toEqual([]);
    for (const bad of [
      'http://models.internal:8080/v10/invocations', // not below /v1
      'http://models.internal:8080/v1/../admin', // resolves to /admin
      'http://models.internal:8080/', // above the prefix
      'http://models.internal:8081/v1/invocations', // another port
      'https://models.internal:8080/v1/invocations', // another scheme
      'http://models.internal.evil.example:8080/v1/invocations', // a textual prefix of the host is not the host
      'http://models.internal:8080@169.254.169.254/v1/invocations', // user info: the host is 169.254.169.254
      'https://detector.example.com.evil.example/',
      'http://169.254.169.254/latest/meta-data/',
    ]) expect(model(bad, paths), bad).toEqual(notAllowed(bad));
    // SageMaker endpoints are names, not URLs: the list does not apply to them.
    expect(problems({ imageProcessor: { name: 'my-endpoint', type: 'SM_ENDPOINT' } }, paths)).toEqual([]);
  });
});

function parseUrls(text: string): string[] {
  const { prefixes, problems: p } = parseModelUrlPrefixes(text);
  expect(p).toEqual([]);
  return prefixes;
}
