/**
 * `tessera run`: one image, one command. Options mirror OSML's ImageRequest; `--request FILE` takes an ImageRequest
 * JSON directly. Exit status: 0 every tile succeeded; 2 some tiles failed (the output is still written and says so);
 * 1 nothing was processed (bad input, unreachable model, ...).
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { randomBytes } from 'node:crypto';
import cliProgress from 'cli-progress';
import { parseImageRequest, requestDistillation, requestOutputs, type ImageRequest } from '../api/image-request.js';
import { runImage, type ImageJob, type ImageResult } from '../pipeline/run-image.js';
import type { Distillation } from '../selection/index.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type TileCompression, type TileFormat } from '../encoding/tile-encoding.js';
import type { RangeAdjustment } from '../pixels/range-adjustment.js';
import type { TilingStrategyName } from '../tiling/index.js';
import { writeFeatureCollection, writeFeatureCollectionTo } from '../sinks/file-sink.js';
import { resolveOutputTarget } from '../sinks/output-target.js';
import { startModelServer, type ModelServer } from '../model-server/index.js';
import { checkModelReachable } from '../detectors/reachability.js';

export const EXIT_OK = 0;
export const EXIT_INPUT_ERROR = 1;
export const EXIT_TILES_FAILED = 2;

export class UsageError extends Error {}

export interface RunCliOptions {
  request?: string;
  model?: string;
  tileSize?: string;
  overlap?: string;
  regionSize?: string;
  tileFormat?: string;
  compression?: string;
  quality?: string;
  tiling?: string;
  customAttributes?: string;
  roi?: string;
  dedup?: string;
  bands?: string;
  rangeAdjustment?: string;
  imageSegment?: string;
  workers?: string;
  timeout?: string;
  retries?: string;
  out?: string;
  jobId?: string;
  maxPayloadMb?: string;
  progress: boolean;
}

export function parseDedup(spec: string): Distillation {
  const [name, a, b, ...rest] = spec.toLowerCase().split(':');
  const num = (v: string | undefined, what: string, def: number, max = Infinity) => {
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`--dedup ${spec}: ${what} must be a number${max === 1 ? ' between 0 and 1' : ' >= 0'}, got ${JSON.stringify(v)}`);
    return n;
  };
  if (rest.length) throw new UsageError(`--dedup ${spec}: too many parts (expected nms[:IOU], soft-nms[:SIGMA[:SKIP]] or none)`);
  switch (name) {
    case 'nms':
      if (b !== undefined) throw new UsageError(`--dedup ${spec}: nms takes one parameter (IOU)`);
      return { algorithm: 'NMS', iouThreshold: num(a, 'IOU threshold', 0.75, 1) };
    case 'soft-nms':
    {
      const sigma = num(a, 'sigma', 0.1);
      if (sigma <= 0) throw new UsageError(`--dedup ${spec}: sigma must be greater than 0`);
      return { algorithm: 'SOFT_NMS', iouThreshold: 0.75, sigma, skipBoxThreshold: num(b, 'skip-box threshold', 0.0001, 1) };
    }
    case 'none':
      if (a !== undefined) throw new UsageError(`--dedup ${spec}: none takes no parameter`);
      return { algorithm: 'NONE' };
    default:
      throw new UsageError(`--dedup ${spec}: unknown algorithm (expected nms[:IOU], soft-nms[:SIGMA[:SKIP]] or none)`);
  }
}

function payloadBytes(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_PAYLOAD_BYTES;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--max-payload-mb must be a number >= 0 (0 = no limit), got ${JSON.stringify(value)}`);
  return Math.round(n * 2 ** 20);
}

function integer(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  const v = value.toUpperCase() as T;
  const match = allowed.find((a) => a.toUpperCase() === v);
  if (!match) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return match;
}

interface ResolvedRun {
  job: ImageJob;
  out: string;
  modelSpec: string;
}

/** Turns CLI flags (or an ImageRequest file plus flags) into a job; every bad value is a UsageError naming the flag. */
export async function resolveRun(image: string | undefined, o: RunCliOptions): Promise<ResolvedRun> {
  let request: ImageRequest | undefined;
  if (o.request) {
    let text: string;
    try {
      text = await readFile(o.request, 'utf8');
    } catch (err) {
      throw new UsageError(`--request ${o.request}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      request = parseImageRequest(text);
    } catch (err) {
      throw new UsageError(`--request ${o.request}: ${(err as Error).message}`);
    }
    if (image && image !== request.imageUrls[0]) throw new UsageError(`IMAGE ${image} and --request imageUrls[0] ${request.imageUrls[0]} disagree: give one`);
    image = request.imageUrls[0];
    if (image.startsWith('s3://')) throw new UsageError(`--request ${o.request}: s3:// images need the service mode (tessera serve); tessera run reads local files`);
  }
  if (!image) throw new UsageError('an IMAGE argument or --request FILE is required');
  for (const [flag, value] of [['--roi', o.roi], ['--bands', o.bands], ['--job-id', o.jobId], ['--custom-attributes', o.customAttributes]] as const) {
    if (value !== undefined && !value.trim()) throw new UsageError(`${flag} is empty`);
  }
  const modelSpec = o.model ?? (request ? request.imageProcessor.name : undefined);
  if (!modelSpec) throw new UsageError('--model URL|builtin:NAME is required');
  if (request && request.imageProcessor.type === 'SM_ENDPOINT' && !o.model) {
    throw new UsageError(`--request ${o.request}: imageProcessor.type SM_ENDPOINT needs AWS (tessera serve); locally use HTTP_ENDPOINT or --model`);
  }
  // Flags override the request; the request overrides Tessera's defaults (tile 512, overlap 128, NITF tiles as OSML).
  const tileSize = o.tileSize !== undefined ? integer(o.tileSize, '--tile-size', 1) : request?.imageProcessorTileSize ?? 512;
  const overlap = o.overlap !== undefined ? integer(o.overlap, '--overlap', 0) : request?.imageProcessorTileOverlap ?? 128;
  if (overlap >= tileSize) throw new UsageError(`--overlap ${overlap} must be smaller than --tile-size ${tileSize}`);
  const format = oneOf<TileFormat>(o.tileFormat ?? request?.imageProcessorTileFormat ?? 'NITF', '--tile-format', ['NITF', 'JPEG', 'PNG', 'GTIFF']);
  const compression = oneOf<TileCompression>(o.compression ?? request?.imageProcessorTileCompression ?? 'NONE', '--compression', ['NONE', 'JPEG', 'J2K', 'LZW', 'DEFLATE']);
  const strategy = oneOf<TilingStrategyName>(o.tiling ?? 'variable-overlap', '--tiling', ['variable-overlap', 'variable-tile', 'full-coverage']);
  const distillation = o.dedup !== undefined ? parseDedup(o.dedup) : request ? requestDistillation(request) : parseDedup('nms');
  const bands = o.bands
    ? o.bands.split(',').map((b, i) => integer(b.trim(), `--bands item ${i + 1}`, 1))
    : undefined;
  const rangeAdjustment = o.rangeAdjustment ? oneOf<RangeAdjustment>(o.rangeAdjustment, '--range-adjustment', ['NONE', 'MINMAX', 'DRA']) : request?.rangeAdjustment;
  const customAttributes = o.customAttributes ?? (request?.imageProcessorParameters?.CustomAttributes as string | undefined);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request?.imageProcessorParameters ?? {})) if (k !== 'CustomAttributes' && typeof v === 'string') headers[k] = v;
  const jobId = o.jobId ?? request?.jobId ?? randomBytes(16).toString('hex');
  const fileOutput = request ? requestOutputs(request).find((x) => x.type === 'File') : undefined;
  const remoteOutputs = request ? requestOutputs(request).filter((x) => x.type !== 'File').map((x) => x.type) : [];
  if (remoteOutputs.length) {
    process.stderr.write(`tessera: warning: --request outputs ${remoteOutputs.join(', ')} are written by tessera serve; tessera run writes a local file\n`);
  }
  const out = o.out ?? (fileOutput && fileOutput.type === 'File' ? fileOutput.path : `${basename(image, extname(image))}.geojson`);
  const job: ImageJob = {
    jobId,
    image,
    detector: { kind: 'http', url: modelSpec, ...(customAttributes ? { customAttributes } : {}), ...(Object.keys(headers).length ? { headers } : {}), timeoutMs: integer(o.timeout ?? '60', '--timeout', 1) * 1000, maxRetries: integer(o.retries ?? '5', '--retries', 0) },
    tileSize,
    overlap,
    regionSize: integer(o.regionSize ?? '10240', '--region-size', 1),
    strategy,
    encoding: { format, compression, quality: integer(o.quality ?? '90', '--quality', 1), maxPayloadBytes: payloadBytes(o.maxPayloadMb) },
    distillation,
    featureProperties: request?.featureProperties ?? [],
    ...(bands ? { bands } : {}),
    ...(rangeAdjustment ? { rangeAdjustment } : {}),
    ...(o.roi ?? request?.regionOfInterest ? { roi: (o.roi ?? request?.regionOfInterest) as string } : {}),
    ...(o.imageSegment !== undefined ? { imageSegment: integer(o.imageSegment, '--image-segment', 0) } : {}),
    ...(o.workers !== undefined ? { workers: integer(o.workers, '--workers', 1) } : {}),
  };
  return { job, out, modelSpec };
}

export async function runCommand(image: string | undefined, o: RunCliOptions): Promise<number> {
  const { job, out, modelSpec } = await resolveRun(image, o);
  let server: ModelServer | undefined;
  try {
    if (modelSpec.startsWith('builtin:')) {
      const name = modelSpec.slice('builtin:'.length).toLowerCase();
      if (!['centerpoint', 'flood', 'failure'].includes(name)) throw new UsageError(`--model ${modelSpec}: unknown built-in model (centerpoint, flood or failure)`);
      server = await startModelServer({ port: 0 });
      if (job.detector.kind !== 'http') throw new UsageError(`--model ${modelSpec}: a built-in model is an HTTP endpoint`);
      job.detector.url = `${server.url}/invocations`;
      // The built-in model named on the command line wins over a model_selection in the custom attributes.
      const others = (job.detector.customAttributes ?? '').split(',').map((a) => a.trim()).filter((a) => a && !/^model_selection\s*=/.test(a));
      job.detector.customAttributes = [`model_selection=${name}`, ...others].join(',');
    } else {
      let url: URL;
      try {
        url = new URL(modelSpec);
      } catch {
        throw new UsageError(`--model ${modelSpec}: not a URL (http://host:port/invocations) or builtin:NAME`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--model ${modelSpec}: only http(s) endpoints run locally`);
      await checkModelReachable(modelSpec);
    }
    const target = await resolveOutputTarget(out, [job.image]);
    const result = await runWithProgress(job, o.progress);
    const extra = { tesseraMetadata: runMetadata(job, result) };
    if (target.kind === 'file') await writeFeatureCollection(target.path, result.features, extra);
    else await writeFeatureCollectionTo(target.kind === 'stdout' ? 'stdout' : target.path, result.features, extra);
    const failed = result.tiles.failed;
    const summary = `${result.tiles.total} tiles, ${failed} failed, ${result.featuresBeforeDedup} features before de-duplication, ${result.features.length} after, ${result.stats.seconds.toFixed(1)} s -> ${out}`;
    process.stderr.write(`tessera: ${summary}\n`);
    for (const f of result.failures.slice(0, 5)) process.stderr.write(`tessera: tile ${f.tile} failed: ${f.error}\n`);
    if (result.failures.length > 5) process.stderr.write(`tessera: ... and ${result.failures.length - 5} more failed tiles (listed in the output's tesseraMetadata)\n`);
    return failed > 0 ? EXIT_TILES_FAILED : EXIT_OK;
  } finally {
    await server?.close();
  }
}

async function runWithProgress(job: ImageJob, wantProgress: boolean): Promise<ImageResult> {
  const bar = wantProgress && process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'tiles {bar} {value}/{total} | {rate} tiles/s | failed {failed} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  const t0 = Date.now();
  try {
    return await runImage(job, {
      onWarning: (m) => process.stderr.write(`tessera: warning: ${m}\n`),
      onPlan: (_plan, total) => bar?.start(total, 0, { rate: '0.0', failed: 0 }),
      onTile: ({ done, failed }) => bar?.update(done, { rate: (done / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(1), failed }),
    });
  } finally {
    bar?.stop();
  }
}

function runMetadata(job: ImageJob, r: ImageResult) {
  return {
    jobId: job.jobId,
    image: r.info.location,
    status: r.tiles.failed === 0 ? 'SUCCESS' : r.tiles.succeeded === 0 ? 'FAILED' : 'PARTIAL',
    tiles: r.tiles,
    failedTiles: r.failures,
    featuresBeforeDeduplication: r.featuresBeforeDedup,
    tiling: { strategy: r.plan.strategy, tileSize: job.tileSize, overlap: job.overlap, effectiveOverlap: r.plan.effectiveOverlap, regions: r.plan.regions.length, processedBounds: r.plan.coveredBounds },
    tileFormat: job.encoding.format,
    tileCompression: job.encoding.compression,
    // 1-based, as --bands takes them
    pixelConversion: { ...r.conversion, bands: r.conversion.bands.map((b) => b + 1) },
    ...(job.imageSegment !== undefined ? { imageSegment: job.imageSegment } : {}),
    distillation: job.distillation,
    warnings: r.warnings,
  };
}
