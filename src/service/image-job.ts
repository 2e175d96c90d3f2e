/**
 * From a validated ImageRequest to the engine's ImageJob, and the service-level checks a request must pass on top
 * of the schema (what this service can actually run).
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InvalidRequestError, memberPath, parseImageRequest, requestDistillation, requestOutputs, type ImageRequest, type Output } from '../api/image-request.js';
import type { ImageJob } from '../pipeline/run-image.js';
import { headerNameProblem, headerValueProblem } from '../detectors/header-values.js';
import type { DetectorConfig } from '../pipeline/tile-task.js';
import type { AwsConfig } from '../aws/clients.js';
import type { S3ReadCredentials } from '../raster/s3-read-credentials.js';
import type { TilingStrategyName } from '../tiling/index.js';
import { fileOutputLocation, fileOutputProblem, imageUrlProblem, LocalPathError, modelUrlProblem, parseS3Url, resolveLocalImage, s3BucketNameProblem, type LocalScope, type RequestPaths } from '../api/request-paths.js';
import { SAGEMAKER_INVOKE_PARAMETERS } from '../detectors/sagemaker-detector.js';
import { s3ObjectKey } from '../sinks/s3-sink.js';

export interface JobDefaults {
  /** Square region size given to the engine (the service re-plans non-square REGION_SIZE itself). */
  regionSize: number;
  strategy: TilingStrategyName;
  quality: number;
  maxPayloadBytes: number;
  timeoutMs: number;
  maxRetries: number;
}

/** An input problem found while resolving or opening the image: the job fails with this reason (not retried). */
export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/** What detectorFor needs besides the request: limits, and for SageMaker the AWS region and loopback/endpoint URLs. */
export interface DetectorDefaults {
  timeoutMs: number;
  maxRetries: number;
  /** The service's AWS config: region and TESSERA_SAGEMAKER_ENDPOINT / TESSERA_STS_ENDPOINT. Needed for SM_ENDPOINT. */
  aws?: AwsConfig;
  /** imageProcessor.assumedRole (RegionRequest model_invocation_role). */
  assumedRole?: string;
}

/**
 * The detector for a request. HTTP endpoints get `CustomAttributes` as the SageMaker custom-attributes header and
 * every other string parameter as a header of that name (OSML's HTTP detector, §2.1). SageMaker endpoints
 * (SM_ENDPOINT, §4.2) are called with InvokeEndpoint on the endpoint named by `imageProcessor.name`, the parameters
 * passed through (the worker's SageMakerDetector keeps InvokeEndpoint's own and warns about the rest).
 */
export function detectorFor(invokeMode: string, modelName: string, parameters: Record<string, unknown> | null | undefined, o: DetectorDefaults): DetectorConfig {
  if (invokeMode === 'SM_ENDPOINT') {
    if (!o.aws) throw new InvalidRequestError([`imageProcessor.type: SM_ENDPOINT needs the service's AWS configuration`]);
    return {
      kind: 'sagemaker',
      endpointName: modelName,
      region: o.aws.region,
      ...(o.aws.endpoints?.sagemaker ? { endpoint: o.aws.endpoints.sagemaker } : {}),
      parameters: { ...(parameters ?? {}) },
      timeoutMs: o.timeoutMs,
      maxAttempts: o.maxRetries + 1,
      ...(o.assumedRole ? { assumedRole: o.assumedRole } : {}),
      ...(o.assumedRole && o.aws.endpoints?.sts ? { stsEndpoint: o.aws.endpoints.sts } : {}),
    };
  }
  if (invokeMode !== 'HTTP_ENDPOINT') {
    throw new InvalidRequestError([`imageProcessor.type: ${invokeMode} is not supported; use SM_ENDPOINT or HTTP_ENDPOINT`]);
  }
  const customAttributes = typeof parameters?.CustomAttributes === 'string' ? parameters.CustomAttributes : undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(parameters ?? {})) if (k !== 'CustomAttributes' && typeof v === 'string') headers[k] = v;
  return {
    kind: 'http',
    url: modelName,
    ...(customAttributes ? { customAttributes } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
    timeoutMs: o.timeoutMs,
    maxRetries: o.maxRetries,
  };
}

/** The ImageJob the engine runs for a request; `image` is the path GDAL opens (a local path or /vsis3/...). */
export function imageJobFromRequest(request: ImageRequest, o: JobDefaults & { image: string; aws?: AwsConfig; readCredentials?: S3ReadCredentials | undefined; drivers?: readonly string[] | undefined }): ImageJob {
  return {
    jobId: request.jobId,
    image: o.image,
    ...(o.readCredentials ? { readCredentials: o.readCredentials } : {}),
    ...(o.drivers ? { drivers: o.drivers } : {}),
    detector: detectorFor(request.imageProcessor.type, request.imageProcessor.name, request.imageProcessorParameters, {
      ...o,
      ...(request.imageProcessor.assumedRole ? { assumedRole: request.imageProcessor.assumedRole } : {}),
    }),
    tileSize: request.imageProcessorTileSize,
    overlap: request.imageProcessorTileOverlap,
    regionSize: o.regionSize,
    strategy: o.strategy,
    encoding: { format: request.imageProcessorTileFormat, compression: request.imageProcessorTileCompression, quality: o.quality, maxPayloadBytes: o.maxPayloadBytes },
    distillation: requestDistillation(request),
    featureProperties: request.featureProperties,
    ...(request.rangeAdjustment ? { rangeAdjustment: request.rangeAdjustment } : {}),
    ...(request.regionOfInterest ? { roi: request.regionOfInterest } : {}),
    ...(request.bands ? { bands: request.bands } : {}),
    ...(request.imageSegment !== undefined ? { imageSegment: request.imageSegment } : {}),
  };
}

/**
 * DynamoDB's key limits (partition key at most 2048 bytes, sort key at most 1024, UTF-8), for the keys derived from a
 * request: the image id `<jobId>:<imageUrl>` is the job and region tables' partition key and, with `-<shard>` (1..50),
 * the feature table's; the region id `(row, col)(width, height)-<jobId>` is the region table's sort key (the numbers
 * take at most 49 bytes with its punctuation); the jobId is the outstanding table's sort key and, as
 * `job-id#<jobId>`, the key of its claim in the job table; the model name keys the endpoint and outstanding tables.
 * Room is left for what is added, so a request that passes never meets DynamoDB's ValidationException.
 */
export const MAX_JOB_ID_BYTES = 960;
export const MAX_IMAGE_ID_BYTES = 2040;
export const MAX_MODEL_NAME_BYTES = 2048;

/** Problems (each naming its field) of the DynamoDB keys a request's ids become. */
function keyLengthProblems(request: ImageRequest): string[] {
  const problems: string[] = [];
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  const jobIdBytes = bytes(request.jobId);
  const urlBytes = bytes(request.imageUrls[0]);
  const imageIdBytes = jobIdBytes + 1 + urlBytes;
  if (jobIdBytes > MAX_JOB_ID_BYTES) {
    problems.push(`jobId: is ${jobIdBytes} bytes (UTF-8); at most ${MAX_JOB_ID_BYTES}: its region ids "(row, col)(width, height)-<jobId>" are DynamoDB sort keys, at most 1024 bytes`);
  }
  // The URL is to blame when the jobId is within its limit, or when the URL would be too long with any jobId.
  if (imageIdBytes > MAX_IMAGE_ID_BYTES && (jobIdBytes <= MAX_JOB_ID_BYTES || urlBytes + 2 > MAX_IMAGE_ID_BYTES)) {
    problems.push(`imageUrls[0]: makes the image id "<jobId>:<imageUrl>" ${imageIdBytes} bytes (UTF-8); at most ${MAX_IMAGE_ID_BYTES}: it is a DynamoDB partition key (at most 2048 bytes) and feature keys add "-<shard>"`);
  }
  const modelBytes = bytes(request.imageProcessor.name);
  if (modelBytes > MAX_MODEL_NAME_BYTES) problems.push(`imageProcessor.name: is ${modelBytes} bytes (UTF-8); at most ${MAX_MODEL_NAME_BYTES}: it keys the endpoint and outstanding-jobs tables (DynamoDB partition keys)`);
  return problems;
}

/**
 * Parses an image-queue message body and checks what the schema cannot: the request must name somewhere for its
 * features to go, its ids must fit DynamoDB's keys (keyLengthProblems), the model must be one this service can
 * call (an HTTP model's URL under TESSERA_HTTP_MODEL_URLS when set), and its image URL and File outputs must be
 * ones this process may read and write (`paths`, see request-paths.ts). Throws InvalidRequestError (every
 * problem, each naming its field).
 */
export function parseServiceRequest(body: string, paths: RequestPaths): ImageRequest {
  const request = parseImageRequest(body);
  const problems: string[] = keyLengthProblems(request);
  const urlProblem = imageUrlProblem(request.imageUrls[0], paths.images);
  if (urlProblem) problems.push(`imageUrls[0]: ${urlProblem}`);
  const outputs = requestOutputs(request);
  if (outputs.length === 0) problems.push('outputs: the request has no outputs (and no outputBucket): nothing would receive its features');
  // What the sinks would otherwise find only at the end, after every tile (S3, Kinesis and the file system refusing).
  const legacy = !request.outputs?.length;
  outputs.forEach((o, i) => problems.push(...outputProblems(o, legacy ? { bucket: 'outputBucket', prefix: 'outputPrefix' } : `outputs[${i}]`, request.jobId, paths)));
  if (request.imageProcessor.type === 'HTTP_ENDPOINT') {
    let ok = false;
    try {
      const u = new URL(request.imageProcessor.name);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`imageProcessor.name: must be an http(s) URL for an HTTP_ENDPOINT, got ${JSON.stringify(request.imageProcessor.name)}`);
    const notAllowed = ok ? modelUrlProblem(request.imageProcessor.name, paths.httpModelUrls) : null;
    if (notAllowed) problems.push(`imageProcessor.name: ${notAllowed}`);
  } else if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/.test(request.imageProcessor.name) || request.imageProcessor.name.length > 63) {
    // SageMaker's own EndpointName pattern: a URL or path here is a request meant for HTTP_ENDPOINT.
    problems.push(`imageProcessor.name: must be a SageMaker endpoint name (letters, digits and hyphens, at most 63) for an SM_ENDPOINT, got ${JSON.stringify(request.imageProcessor.name)}`);
  }
  // Parameters sent as HTTP headers: every one for an HTTP endpoint, InvokeEndpoint's own for SageMaker (its other
  // keys are dropped with a warning, as OSML). A header is a string: anything else is refused, not converted (a
  // number as CustomAttributes used to be left out, and every tile refused by the model).
  const http = request.imageProcessor.type === 'HTTP_ENDPOINT';
  for (const [k, v] of Object.entries(request.imageProcessorParameters ?? {})) {
    if (!http && !(SAGEMAKER_INVOKE_PARAMETERS as readonly string[]).includes(k)) continue;
    const field = memberPath('imageProcessorParameters', k);
    if (typeof v !== 'string') {
      problems.push(`${field}: must be a string (it is sent as an HTTP header), got ${excerpt(v)}`);
      continue;
    }
    const problem = (http && k !== 'CustomAttributes' ? headerNameProblem(k) : null) ?? headerValueProblem(v);
    if (problem) problems.push(`${field}: ${problem}`);
  }
  if (problems.length) throw new InvalidRequestError(problems);
  return request;
}

/** A value as JSON, cut short (for messages). */
function excerpt(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Kinesis's StreamName pattern and length. */
const KINESIS_STREAM = /^[a-zA-Z0-9_.-]{1,128}$/;
/** S3's longest object key, in UTF-8 bytes. */
const MAX_S3_KEY_BYTES = 1024;

/**
 * What is wrong with one output (each problem naming its field: `at` is `outputs[i]`, or for the legacy
 * outputBucket/outputPrefix the names of those fields): an S3 bucket name S3 would refuse, an object key
 * `<prefix>/<jobId>.geojson` over S3's limit, a Kinesis stream name Kinesis would refuse, a File output the service
 * may not or cannot write (request-paths.ts: outside the folder, its folder missing or leading outside through a
 * symlink, an existing folder at its name).
 */
function outputProblems(o: Output, at: string | { bucket: string; prefix: string }, jobId: string, paths: RequestPaths): string[] {
  const field = (member: 'bucket' | 'prefix' | 'stream' | 'path') => (typeof at === 'string' ? `${at}.${member}` : at[member as 'bucket' | 'prefix']);
  const problems: string[] = [];
  switch (o.type) {
    case 'S3': {
      const bucket = s3BucketNameProblem(o.bucket);
      if (bucket) problems.push(`${field('bucket')}: ${bucket}`);
      const keyBytes = Buffer.byteLength(s3ObjectKey(o.prefix, jobId), 'utf8');
      if (keyBytes > MAX_S3_KEY_BYTES) problems.push(`${field('prefix')}: makes the object key "<prefix>/<jobId>.geojson" ${keyBytes} bytes (UTF-8); at most ${MAX_S3_KEY_BYTES} (S3's limit)`);
      break;
    }
    case 'Kinesis':
      if (!KINESIS_STREAM.test(o.stream)) problems.push(`${field('stream')}: ${JSON.stringify(o.stream)} is not a Kinesis stream name (1 to 128 letters, digits, underscores, dots and hyphens)`);
      break;
    case 'File': {
      const problem = fileOutputProblem(o.path, paths.fileOutputs);
      if (problem) {
        problems.push(`${field('path')}: ${problem}`);
        break;
      }
      try {
        fileOutputLocation(o.path, paths.fileOutputs);
      } catch (err) {
        if (!(err instanceof LocalPathError)) throw err;
        problems.push(`${field('path')}: ${err.message}`);
      }
      break;
    }
  }
  return problems;
}

/**
 * The field named by the first problem of an invalid request ("outputs[0].bucket: ..." → "outputs[0].bucket"), as
 * fieldPath writes it: members by name (`.name`, or `["Bad Header"]` JSON-quoted when not an identifier), items
 * by index.
 */
export function fieldOfProblem(problem: string | undefined): string | undefined {
  if (!problem) return undefined;
  const m = FIELD_PATH.exec(problem);
  return m ? m[1] : problem.startsWith('body') ? 'body' : undefined;
}

const QUOTED_MEMBER = String.raw`\["(?:[^"\\]|\\.)*"\]`;
const FIELD_PATH = new RegExp(String.raw`^((?:[A-Za-z_]\w*|${QUOTED_MEMBER})(?:\[\d+\]|\.[A-Za-z_]\w*|${QUOTED_MEMBER})*):`);


/**
 * The path GDAL opens for an image URL: `s3://bucket/key` becomes `/vsis3/bucket/key` after a HEAD of the object
 * (as OSML), so a missing or forbidden object is a clear input error rather than a GDAL message; anything else is
 * a local path, resolved within `localImages` (request-paths.ts). A HEAD that fails for another reason (network,
 * throttling) is rethrown as is: worth a retry.
 * `s3` is the client of whoever reads the image (the imageReadRole's, see src/aws/image-read-role.ts); GDAL's reads
 * of the path then need the same keys (RasterInfo.readCredentials).
 */
export async function resolveImagePath(url: string, s3: () => S3Client, localImages: LocalScope): Promise<string> {
  // Also checked here, so that no caller reaches GDAL without the check.
  const problem = imageUrlProblem(url, localImages);
  if (problem) throw new ImageInputError(`imageUrls[0]: ${problem}`);
  if (url.startsWith('s3:')) {
    const loc = parseS3Url(url)!;
    try {
      await s3().send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = (err as Error).name;
      if (status === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchBucket') throw new ImageInputError(`image ${url} does not exist`);
      if (status === 403 || name === 'AccessDenied' || name === 'Forbidden') throw new ImageInputError(`image ${url} cannot be read: access denied`);
      throw err;
    }
    return `/vsis3/${loc.bucket}/${loc.key}`;
  }
  try {
    return await resolveLocalImage(url, localImages);
  } catch (err) {
    if (err instanceof LocalPathError) throw new ImageInputError(`imageUrls[0]: ${err.message}`);
    throw err;
  }
}
