/**
 * `tessera run`: one image, one command. Options mirror OSML's ImageRequest; `--request FILE` takes an ImageRequest
 * JSON directly. The flags become an ImageRequest that runs through the service's own handlers on in-process
 * queues and stores (service/local-run.ts). Exit status: 0 every tile succeeded; 2 some tiles failed, at least one succeeded (the output is still written and says so);
 * 1 nothing was processed (bad input, unreachable model, ...).
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { InvalidRequestError, parseImageRequest, requestDistillation, requestOutputs, type ImageRequest, type ImageRequestInput } from '../api/image-request.js';
import { everyTileRejected, JobInputError } from '../pipeline/run-image.js';
import type { Distillation } from '../selection/index.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type TileCompression, type TileFormat } from '../encoding/tile-encoding.js';
import type { RangeAdjustment } from '../pixels/range-adjustment.js';
import type { TilingStrategyName } from '../tiling/index.js';
import { resolveOutputTarget } from '../sinks/output-target.js';
import { LocalOutputSink } from '../sinks/local-output-sink.js';
import { removeTemporaryFiles } from '../util/temporary-files.js';
import { parseServiceRequest } from '../service/image-job.js';
import { LOCAL_RUN_PATHS } from '../api/request-paths.js';
import { MAX_MODEL_ATTEMPTS } from '../detectors/retry-policy.js';
import { runLocal, type LocalRunSettings, type LocalRunState, type TileFailure } from '../service/local-run.js';
import type { JobItem } from '../state/job-table.js';
import { startModelServer, type ModelServer } from '../model-server/index.js';
import { checkModelReachable } from '../detectors/reachability.js';
import { headerNameProblem, headerValueProblem } from '../detectors/header-values.js';
import { parseRoi } from '../geolocation/roi.js';
import { MAX_TILE_SIZE, MAX_TIMER_SECONDS, MAX_WORKER_THREADS, WORKER_THREADS_PER_CORE, maxWorkerThreads } from '../util/limits.js';

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

/** An integer flag; `max` (with why, e.g. "24 h") bounds options that size resources or set timers. */
function integer(value: string, flag: string, min: number, max?: { value: number; why?: string }): number {
  const n = Number(value);
  const range = max ? `from ${min} to ${max.value}${max.why ? ` (${max.why})` : ''}` : `>= ${min}`;
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || (max && n > max.value)) throw new UsageError(`${flag} must be an integer ${range}, got ${JSON.stringify(value)}`);
  return n;
}

function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  const v = value.toUpperCase() as T;
  const match = allowed.find((a) => a.toUpperCase() === v);
  if (!match) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return match;
}

interface ResolvedRun {
  /** The request without its model (a built-in model's URL is known only once its server runs). */
  request: Omit<ImageRequestInput, 'imageProcessor' | 'imageProcessorParameters'>;
  parameters: Record<string, string>;
  settings: Omit<LocalRunSettings, 'request'>;
  distillation: Distillation;
  out: string;
  /** How the user gave `out`: `--out PATH`, a request file's File output, or the default. */
  outName: string;
  /** The image as the user gave it (IMAGE or the request's imageUrls[0]). */
  image: string;
  modelSpec: string;
}

function workersWhy(): string {
  return `${WORKER_THREADS_PER_CORE} × the ${availableParallelism()} cores, at most ${MAX_WORKER_THREADS}`;
}

/** OSML's postProcessing entry for a distillation. */
function postProcessingOf(d: Distillation): ImageRequestInput['postProcessing'] {
  switch (d.algorithm) {
    case 'NMS': return [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'NMS', iouThreshold: d.iouThreshold } }];
    case 'SOFT_NMS': return [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'SOFT_NMS', iouThreshold: d.iouThreshold, sigma: d.sigma, skipBoxThreshold: d.skipBoxThreshold } }];
    case 'NONE': return [{ step: 'FEATURE_DISTILLATION', algorithm: { algorithmType: 'NONE' } }];
  }
}

/** Turns CLI flags (or an ImageRequest file plus flags) into a request; every bad value is a UsageError naming the flag. */
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
  }
  if (!image) throw new UsageError('an IMAGE argument or --request FILE is required');
  // Named as the user gave it (the handlers would say "imageUrls.0", a field of a request the user never wrote).
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) {
    const name = o.request ? `--request ${o.request} imageUrls[0] ${image}` : image;
    throw new UsageError(`${name}: ${image.startsWith('s3://') ? 's3:// images need the service mode (tessera serve)' : 'not a local file'}; tessera run reads local files`);
  }
  for (const [flag, value] of [['--roi', o.roi], ['--bands', o.bands], ['--job-id', o.jobId], ['--custom-attributes', o.customAttributes], ['--out', o.out]] as const) {
    if (value !== undefined && !value.trim()) throw new UsageError(`${flag} is empty`);
  }
  const modelSpec = o.model ?? (request ? request.imageProcessor.name : undefined);
  if (!modelSpec) throw new UsageError('--model URL|builtin:NAME is required');
  if (request && request.imageProcessor.type === 'SM_ENDPOINT' && !o.model) {
    throw new UsageError(`--request ${o.request}: imageProcessor.type SM_ENDPOINT needs AWS (tessera serve); locally use HTTP_ENDPOINT or --model`);
  }
  // Flags override the request; the request overrides Tessera's defaults (tile 512, overlap 128, NITF tiles as OSML).
  const tileSize = o.tileSize !== undefined ? integer(o.tileSize, '--tile-size', 1, { value: MAX_TILE_SIZE }) : request?.imageProcessorTileSize ?? 512;
  const overlap = o.overlap !== undefined ? integer(o.overlap, '--overlap', 0) : request?.imageProcessorTileOverlap ?? 128;
  if (overlap >= tileSize) throw new UsageError(`--overlap ${overlap} must be smaller than --tile-size ${tileSize}`);
  const format = oneOf<TileFormat>(o.tileFormat ?? request?.imageProcessorTileFormat ?? 'NITF', '--tile-format', ['NITF', 'JPEG', 'PNG', 'GTIFF']);
  const compression = oneOf<TileCompression>(o.compression ?? request?.imageProcessorTileCompression ?? 'NONE', '--compression', ['NONE', 'JPEG', 'J2K', 'LZW', 'DEFLATE']);
  const strategy = oneOf<TilingStrategyName>(o.tiling ?? 'variable-overlap', '--tiling', ['variable-overlap', 'variable-tile', 'full-coverage']);
  const distillation = o.dedup !== undefined ? parseDedup(o.dedup) : request ? requestDistillation(request) : parseDedup('nms');
  const bands = o.bands
    ? o.bands.split(',').map((b, i) => integer(b.trim(), `--bands item ${i + 1}`, 1))
    : request?.bands;
  const rangeAdjustment = o.rangeAdjustment ? oneOf<RangeAdjustment>(o.rangeAdjustment, '--range-adjustment', ['NONE', 'MINMAX', 'DRA']) : request?.rangeAdjustment;
  const customAttributes = o.customAttributes ?? (request?.imageProcessorParameters?.CustomAttributes as string | undefined);
  const parameters: Record<string, string> = {};
  for (const [k, v] of Object.entries(request?.imageProcessorParameters ?? {})) if (k !== 'CustomAttributes' && typeof v === 'string') parameters[k] = v;
  if (customAttributes) parameters.CustomAttributes = customAttributes;
  // Headers to the model: refused here, naming where they came from, rather than by the HTTP client on every tile.
  for (const [k, v] of Object.entries(parameters)) {
    const where = k === 'CustomAttributes' && o.customAttributes !== undefined ? '--custom-attributes' : `--request ${o.request} imageProcessorParameters.${k}`;
    const problem = (k === 'CustomAttributes' ? null : headerNameProblem(k)) ?? headerValueProblem(v);
    if (problem) throw new UsageError(`${where}: ${problem}`);
  }
  const jobId = o.jobId ?? request?.jobId ?? randomBytes(16).toString('hex');
  const fileOutput = request ? requestOutputs(request).find((x) => x.type === 'File') : undefined;
  const remoteOutputs = request ? requestOutputs(request).filter((x) => x.type !== 'File').map((x) => x.type) : [];
  if (remoteOutputs.length) {
    process.stderr.write(`tessera: warning: --request outputs ${remoteOutputs.join(', ')} are written by tessera serve; tessera run writes a local file\n`);
  }
  const fileOutputs = request ? requestOutputs(request).filter((x) => x.type === 'File') : [];
  if (!o.out && fileOutputs.length > 1) {
    process.stderr.write(`tessera: warning: --request outputs has ${fileOutputs.length} File outputs; tessera run writes one, the first (${fileOutput?.type === 'File' ? fileOutput.path : ''})\n`);
  }
  const out = o.out ?? (fileOutput && fileOutput.type === 'File' ? fileOutput.path : `${basename(image, extname(image))}.geojson`);
  // How the user gave the output path, for its messages.
  const outName = o.out !== undefined
    ? `--out ${o.out}`
    : fileOutput && request
      ? `--request ${o.request} outputs[${requestOutputs(request).indexOf(fileOutput)}].path ${out}`
      : `output ${out} (the default: <image name>.geojson in the current folder)`;
  const roi = o.roi ?? request?.regionOfInterest ?? undefined;
  if (roi) {
    try {
      parseRoi(roi);
    } catch (err) {
      throw new UsageError(`${o.roi ? '--roi' : `--request ${o.request} regionOfInterest`}: ${(err as Error).message}`);
    }
  }
  const imageSegment = o.imageSegment !== undefined ? integer(o.imageSegment, '--image-segment', 0) : request?.imageSegment;
  return {
    request: {
      jobId,
      ...(request?.jobName ? { jobName: request.jobName } : {}),
      imageUrls: [image],
      outputs: [{ type: 'File', path: out }],
      imageProcessorTileSize: tileSize,
      imageProcessorTileOverlap: overlap,
      imageProcessorTileFormat: format,
      imageProcessorTileCompression: compression,
      featureProperties: request?.featureProperties ?? [],
      postProcessing: postProcessingOf(distillation),
      ...(bands ? { bands } : {}),
      ...(rangeAdjustment ? { rangeAdjustment } : {}),
      ...(roi ? { regionOfInterest: roi } : {}),
      ...(imageSegment !== undefined ? { imageSegment } : {}),
    },
    parameters,
    settings: {
      regionSize: integer(o.regionSize ?? '10240', '--region-size', 1),
      tilingStrategy: strategy,
      quality: integer(o.quality ?? '90', '--quality', 1, { value: 100 }),
      maxPayloadBytes: payloadBytes(o.maxPayloadMb),
      timeoutMs: integer(o.timeout ?? '60', '--timeout', 1, { value: MAX_TIMER_SECONDS, why: '24 h' }) * 1000,
      maxRetries: integer(o.retries ?? '5', '--retries', 0, { value: MAX_MODEL_ATTEMPTS - 1, why: `at most ${MAX_MODEL_ATTEMPTS} model attempts per tile` }),
      ...(o.workers !== undefined ? { workers: integer(o.workers, '--workers', 1, { value: maxWorkerThreads(), why: workersWhy() }) } : {}),
    },
    distillation,
    out,
    outName,
    image,
    modelSpec,
  };
}

export async function runCommand(image: string | undefined, o: RunCliOptions): Promise<number> {
  const resolved = await resolveRun(image, o);
  const { out, modelSpec } = resolved;
  const parameters = { ...resolved.parameters };
  let server: ModelServer | undefined;
  // Caught from here on, before the built-in model and the tile workers start, so an interrupt at any point says so.
  const stopOnSignals = interruptHandlers(resolved.image);
  try {
    let modelUrl: string;
    if (modelSpec.startsWith('builtin:')) {
      const name = modelSpec.slice('builtin:'.length).toLowerCase();
      if (!['centerpoint', 'flood', 'failure'].includes(name)) throw new UsageError(`--model ${modelSpec}: unknown built-in model (centerpoint, flood or failure)`);
      server = await startModelServer({ port: 0 });
      modelUrl = `${server.url}/invocations`;
      // The built-in model named on the command line wins over a model_selection in the custom attributes.
      const attributes = (parameters.CustomAttributes ?? '').split(',').map((a) => a.trim()).filter(Boolean);
      const selection = attributes.find((a) => /^model_selection\s*=/.test(a));
      if (selection && selection.split('=')[1].trim().toLowerCase() !== name) process.stderr.write(`tessera: warning: ${selection} in the custom attributes is replaced by --model ${modelSpec}\n`);
      const others = attributes.filter((a) => !/^model_selection\s*=/.test(a));
      parameters.CustomAttributes = [`model_selection=${name}`, ...others].join(',');
    } else {
      let url: URL;
      try {
        url = new URL(modelSpec);
      } catch {
        throw new UsageError(`--model ${modelSpec}: not a URL (http://host:port/invocations) or builtin:NAME`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--model ${modelSpec}: only http(s) endpoints run locally`);
      await checkModelReachable(modelSpec);
      modelUrl = modelSpec;
    }
    let request: ImageRequest;
    try {
      request = parseServiceRequest(JSON.stringify({ ...resolved.request, imageProcessor: { name: modelUrl, type: 'HTTP_ENDPOINT' }, ...(Object.keys(parameters).length ? { imageProcessorParameters: parameters } : {}) }), LOCAL_RUN_PATHS);
    } catch (err) {
      if (err instanceof InvalidRequestError) throw new UsageError(err.message);
      throw err;
    }
    const target = await resolveOutputTarget(out, [request.imageUrls[0]], resolved.outName);
    const run = await runWithProgress({ ...resolved.settings, request }, o.progress, (state, req) =>
      new LocalOutputSink(target, (written) => ({ tesseraMetadata: runMetadata(req, resolved, state, written) })),
    );
    if (!run.outputWritten) throw new JobInputError(run.state.stopped ?? failedOutputReason(run.job) ?? run.job.message ?? `job ${run.status}`);
    const { tiles, failures } = run.state;
    const summary = `${tiles.total} tiles, ${tiles.failed} failed, ${run.job.feature_count_before_dedup ?? 0} features before de-duplication, ${run.job.feature_count ?? 0} after, ${run.seconds.toFixed(1)} s -> ${out}`;
    process.stderr.write(`tessera: ${summary}\n`);
    for (const f of failures.slice(0, 5)) process.stderr.write(`tessera: tile ${f.tile} failed: ${f.error}\n`);
    if (failures.length > 5) process.stderr.write(`tessera: ... and ${failures.length - 5} more failed tiles (listed in the output's tesseraMetadata)\n`);
    return tiles.failed > 0 ? EXIT_TILES_FAILED : EXIT_OK;
  } finally {
    stopOnSignals();
    await server?.close();
  }
}

/**
 * Interrupted (Ctrl-C, SIGTERM, SIGHUP): say so and die of the signal itself. The output is written only at the
 * very end, to a temporary file renamed into place, so removing that file is all the clean-up there is. Re-raising
 * instead of process.exit(): exit first joins every worker thread, which takes seconds (or hangs) while workers are
 * still loading; a signal death is immediate, and it is what a shell loop needs to stop on Ctrl-C (status 128 + n).
 * Returns the function that removes the handlers.
 */
function interruptHandlers(image: string): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [signal, () => {
    removeTemporaryFiles(); // a half-written output, the spilled features
    process.stderr.write(`${process.stderr.isTTY ? '\x1b[?25h' : ''}\ntessera: ${signal}: stopped; ${image} not processed, no output written\n`);
    remove();
    process.kill(process.pid, signal); // no listener left: the default action ends the process
  }] as const);
  const remove = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
  for (const [signal, handler] of handlers) process.once(signal, handler);
  return remove;
}

/** The error of the run's output when writing it failed ("writing out.geojson failed: ..."). */
function failedOutputReason(job: JobItem): string | undefined {
  if (typeof job.output_outcomes !== 'string') return undefined;
  const outcomes = JSON.parse(job.output_outcomes) as Array<{ ok: boolean; error?: string }>;
  return outcomes.find((x) => !x.ok && x.error)?.error;
}

/**
 * The reason of a run in which every tile failed: the most common failure, with one example. Failures are grouped
 * with their numbers masked, so the same read error at different offsets, or the same HTTP status on different
 * tiles, counts as one reason.
 */
export function noTileSucceeded(image: string, failures: TileFailure[], total: number): string {
  const groups = new Map<string, { count: number; example: TileFailure }>();
  for (const f of failures) {
    const key = f.error.replace(/\d+(\.\d+)?/g, '#');
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { count: 1, example: f });
  }
  let top: { count: number; example: TileFailure } | undefined;
  for (const g of groups.values()) if (!top || g.count > top.count) top = g;
  const n = `${image}: ${total === 1 ? 'the only tile' : `all ${total} tiles`} failed, no output written`;
  if (!top) return n;
  const share = total === 1 ? '' : top.count === total ? 'every tile the same way, e.g. ' : `most often (${top.count} of ${total} tiles), e.g. `;
  return `${n}; ${share}tile ${top.example.tile}: ${top.example.error}`;
}

async function runWithProgress(settings: LocalRunSettings, wantProgress: boolean, output: Parameters<typeof runLocal>[1]['output']) {
  const image = settings.request.imageUrls[0];
  const bar = wantProgress && process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'tiles {bar} {value}/{total} | {rate} tiles/s | failed {failed} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  const t0 = Date.now();
  try {
    return await runLocal(settings, {
      onWarning: (m) => process.stderr.write(`tessera: warning: ${m}\n`),
      onPlan: (state) => bar?.start(state.tiles.total, 0, { rate: '0.0', failed: 0 }),
      onTile: ({ tiles }) => {
        const done = tiles.succeeded + tiles.failed;
        bar?.update(done, { rate: (done / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(1), failed: tiles.failed });
      },
      // A model that rejects the first tiles the same way will reject them all (see everyTileRejected).
      stopReason: (state) => {
        const rejected = state.tiles.succeeded === 0 ? everyTileRejected(state.failures, state.tiles.total) : null;
        return rejected ? `${image}: ${rejected}` : null;
      },
      // Nothing succeeded: an output would hold no feature, only failures, and would replace a good earlier one.
      finalReason: (state) => (state.tiles.total > 0 && state.tiles.succeeded === 0 ? noTileSucceeded(image, state.failures, state.tiles.total) : null),
      output,
    });
  } finally {
    bar?.stop();
  }
}

function runMetadata(request: ImageRequest, resolved: ResolvedRun, state: LocalRunState, written: { featuresStored?: number }) {
  const { tiles, failures, prepared, plan } = state;
  const failed = tiles.failed;
  const conversion = prepared?.conversion;
  return {
    jobId: request.jobId,
    image: prepared?.info.location ?? request.imageUrls[0],
    status: failed === 0 ? 'SUCCESS' : failed >= tiles.total ? 'FAILED' : 'PARTIAL',
    tiles: { total: tiles.total, succeeded: tiles.total - failed, failed },
    failedTiles: failures,
    featuresBeforeDeduplication: written.featuresStored ?? 0,
    ...(plan ? { tiling: { strategy: plan.strategy, tileSize: request.imageProcessorTileSize, overlap: request.imageProcessorTileOverlap, effectiveOverlap: plan.effectiveOverlap, regions: plan.regions.length, processedBounds: plan.coveredBounds } } : {}),
    tileFormat: request.imageProcessorTileFormat,
    tileCompression: request.imageProcessorTileCompression,
    // 1-based, as --bands takes them
    ...(prepared && conversion
      ? { pixelConversion: { bands: conversion.bands.map((b) => b + 1), outputType: conversion.outputType === 'same' ? prepared.info.dataType : conversion.outputType, rangeAdjustment: prepared.rangeAdjustment, ...(conversion.ranges ? { ranges: conversion.ranges } : {}) } }
      : {}),
    ...(request.imageSegment !== undefined ? { imageSegment: request.imageSegment } : {}),
    distillation: resolved.distillation,
    warnings: prepared?.warnings ?? [],
  };
}
