/**
 * The region-queue message: OSML's RegionRequest (snake_case, reference §3.1) plus what a region needs so every
 * container processes it identically without re-deriving image-wide decisions: the processing bounds and tiling,
 * the pixel conversion (band choice and the range-adjustment stretch computed once from the image's histogram),
 * the tile encoding, and whether the image is geolocated.
 */
import { z } from 'zod';
import { TILE_COMPRESSIONS, TILE_FORMATS } from '../encoding/tile-encoding.js';
import { RANGE_ADJUSTMENTS } from '../pixels/range-adjustment.js';
import { TILING_STRATEGIES, planTiling, regionTupleRepr, windowsEqual, type Size, type TilingPlan, type TilingStrategyName, type Window } from '../tiling/index.js';
import { fieldPath } from '../api/image-request.js';

const pair = z.tuple([z.number().int(), z.number().int()]);
const bounds = z.tuple([pair, pair]);

export const regionRequestSchema = z.object({
  // OSML §3.1
  image_id: z.string().min(1),
  region_id: z.string().min(1),
  job_id: z.string().min(1),
  image_url: z.string().min(1),
  image_read_role: z.string().optional(),
  model_name: z.string().min(1),
  model_invocation_role: z.string().optional(),
  model_invoke_mode: z.enum(['SM_ENDPOINT', 'HTTP_ENDPOINT']),
  model_endpoint_parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  tile_size: pair,
  tile_overlap: pair,
  tile_format: z.enum(TILE_FORMATS),
  tile_compression: z.enum(TILE_COMPRESSIONS),
  region_bounds: bounds,
  image_extension: z.string().optional(),
  // Tessera
  image_path: z.string().min(1),
  image_segment: z.number().int().min(0).optional(),
  tile_quality: z.number().int().min(1).max(100),
  max_payload_bytes: z.number().int().min(0),
  tiling_strategy: z.enum(TILING_STRATEGIES as unknown as [TilingStrategyName, ...TilingStrategyName[]]),
  processing_bounds: bounds,
  region_size: pair,
  geolocate: z.boolean(),
  pixel_conversion: z.object({
    bands: z.array(z.number().int().min(0)).min(1),
    output_type: z.enum(['Byte', 'UInt16', 'same']),
    range_adjustment: z.enum(RANGE_ADJUSTMENTS),
    ranges: z.array(z.tuple([z.number(), z.number()])).optional(),
  }),
});

export type RegionRequest = z.output<typeof regionRequestSchema>;

export class InvalidRegionRequestError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid region request: ${problems.join('; ')}`);
    this.name = 'InvalidRegionRequestError';
  }
}

export function parseRegionRequest(body: string): RegionRequest {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new InvalidRegionRequestError([`body is not JSON (${(err as Error).message})`]);
  }
  const parsed = regionRequestSchema.safeParse(value);
  if (!parsed.success) throw new InvalidRegionRequestError(parsed.error.issues.map((i) => `${i.path.length ? fieldPath(i.path) : 'body'}: ${i.message}`));
  return parsed.data;
}

/** OSML's region id: "(row, col)(width, height)-<jobId>". */
export function regionIdOf(region: Window, jobId: string): string {
  return `(${region.y}, ${region.x})(${region.width}, ${region.height})-${jobId}`;
}

/** `[[row, col], [w, h]]` ⇄ Window. */
export function toBounds(w: Window): [[number, number], [number, number]] {
  return [[w.y, w.x], [w.width, w.height]];
}

export function fromBounds(b: readonly [readonly [number, number], readonly [number, number]]): Window {
  return { x: b[0][1], y: b[0][0], width: b[1][0], height: b[1][1] };
}

/** The tiling inputs that fully determine an image's plan (stored on the job item and carried by regions). */
export interface TilingSpec {
  strategy: TilingStrategyName;
  bounds: Window;
  tileSize: Size;
  overlap: Size;
  regionSize: Size;
}

export function planOf(spec: TilingSpec): TilingPlan {
  return planTiling({ bounds: spec.bounds, tileSize: spec.tileSize, overlap: spec.overlap, regionSize: spec.regionSize, strategy: spec.strategy });
}

export function tilingSpecOf(r: RegionRequest): TilingSpec {
  return {
    strategy: r.tiling_strategy,
    bounds: fromBounds(r.processing_bounds),
    tileSize: { width: r.tile_size[0], height: r.tile_size[1] },
    overlap: { width: r.tile_overlap[0], height: r.tile_overlap[1] },
    regionSize: { width: r.region_size[0], height: r.region_size[1] },
  };
}

/** The id a tile is stored and recorded under: OSML's "(row, col)(w, h)" label, unique within the image. */
export const tileIdOf = (tile: Window): string => regionTupleRepr(tile);

/**
 * What a region message says about where to read, whom to call and how to tile must be what its job was started
 * with: a message on the region queue is otherwise trusted to name any image path, model, role or tile size (anyone
 * who can send to the queue could make the service fetch a URL or post tiles elsewhere). Region messages are queued
 * only after the image handler has recorded the job's plan, so a job without one cannot have sent any.
 * The region must also be one of its job's (regionOfJobMismatch). Returns the first difference, or null.
 */
export function regionJobMismatch(r: RegionRequest, job: Record<string, unknown>): string | null {
  if (typeof job.image_path !== 'string' || typeof job.image_request !== 'string' || typeof job.tiling !== 'string') {
    return `job ${r.image_id} has not been planned yet, so no region message can come from it`;
  }
  const request = JSON.parse(job.image_request) as { imageProcessor?: { assumedRole?: string }; imageProcessorParameters?: unknown };
  const expected: Array<[string, unknown, unknown]> = [
    ['image_url', r.image_url, job.image_url],
    ['image_path', r.image_path, job.image_path],
    ['model_name', r.model_name, job.model_name],
    ['model_invoke_mode', r.model_invoke_mode, job.model_invoke_mode],
    ['image_read_role', r.image_read_role, job.image_read_role],
    // `|| undefined`: a job stored before "" was parsed as no role (image-request.ts) keeps "" in its request.
    ['model_invocation_role', r.model_invocation_role, request.imageProcessor?.assumedRole || undefined],
    ['model_endpoint_parameters', r.model_endpoint_parameters ?? null, request.imageProcessorParameters ?? null],
    ['tiling (tile_size, tile_overlap, region_size, processing_bounds, tiling_strategy)', canonicalTiling(tilingSpecOf(r)), canonicalTiling(JSON.parse(job.tiling) as TilingSpec)],
  ];
  for (const [field, given, started] of expected) {
    if (JSON.stringify(given) !== JSON.stringify(started)) {
      return `${field} is ${JSON.stringify(given) ?? 'absent'} but job ${r.image_id} was started with ${JSON.stringify(started) ?? 'none'}`;
    }
  }
  return regionOfJobMismatch(r, job as { job_id?: unknown; image_url?: unknown; tiling: string });
}

/**
 * The region itself must be one its job sent: the job id and image id those of the job (image_id is
 * `<jobId>:<imageUrl>`), the bounds one of the regions of the job's plan (from the tiling stored on the job, which
 * the image handler planned and queued the regions from), and the region id OSML's id of those bounds in that job.
 * Otherwise a message that names its job's image, model and tiling could still be counted as one of its regions
 * (a region that is not in the plan fails, and counting it would end the job before its real regions).
 */
function regionOfJobMismatch(r: RegionRequest, job: { job_id?: unknown; image_url?: unknown; tiling: string }): string | null {
  if (r.job_id !== job.job_id) return `job_id is ${JSON.stringify(r.job_id)} but job ${r.image_id} has job id ${JSON.stringify(job.job_id) ?? 'none'}`;
  const imageId = `${String(job.job_id)}:${String(job.image_url)}`;
  if (r.image_id !== imageId) return `image_id is ${JSON.stringify(r.image_id)} but job ${JSON.stringify(job.job_id)} of image ${JSON.stringify(job.image_url)} has image id ${JSON.stringify(imageId)}`;
  let plan: TilingPlan;
  try {
    plan = planOf(JSON.parse(job.tiling) as TilingSpec);
  } catch (err) {
    return `the tiling stored on job ${r.image_id} cannot be planned (${(err as Error).message})`;
  }
  const region = fromBounds(r.region_bounds);
  if (!plan.regions.some((w) => windowsEqual(w, region))) {
    return `region_bounds ${JSON.stringify(r.region_bounds)} is not one of the ${plan.regions.length} regions of job ${r.image_id}'s tiling plan`;
  }
  const regionId = regionIdOf(region, r.job_id);
  if (r.region_id !== regionId) return `region_id is ${JSON.stringify(r.region_id)} but the id of region ${JSON.stringify(r.region_bounds)} of job ${JSON.stringify(r.job_id)} is ${JSON.stringify(regionId)}`;
  return null;
}

/** A tiling spec with its members in one order, to compare as JSON. */
function canonicalTiling(t: TilingSpec) {
  const size = (s: Size) => ({ width: s.width, height: s.height });
  return { strategy: t.strategy, bounds: { x: t.bounds.x, y: t.bounds.y, ...size(t.bounds) }, tileSize: size(t.tileSize), overlap: size(t.overlap), regionSize: size(t.regionSize) };
}
