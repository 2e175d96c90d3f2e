/**
 * OSML's ImageRequest (the image-queue message, camelCase JSON; reference §2), validated before any work with one
 * message per problem that names the field and the reason.
 */
import { z } from 'zod';
import { SUPPORTED_COMPRESSIONS, TILE_COMPRESSIONS, TILE_FORMATS, type TileCompression, type TileFormat } from '../encoding/tile-encoding.js';
import { RANGE_ADJUSTMENTS } from '../pixels/range-adjustment.js';
import { parseRoi } from '../geolocation/roi.js';
import type { Distillation } from '../selection/index.js';
import { MAX_TILE_SIZE } from '../util/limits.js';
import { JOB_ID_CLAIM_PREFIX } from '../state/job-table.js';

const arn = z.string().regex(/^arn:/, 'must be an IAM role ARN (arn:...)');
/**
 * An optional role: an ARN, or "" for none (OSML's default for every role, skipped by its checks). "" becomes
 * absent here, where every request is parsed, so nothing downstream tells "" from a missing role (the region
 * message leaves model_invocation_role out when there is none, and the region handler compares it with the role
 * stored with the job's request: "" on one side and absent on the other refused every region after the first).
 */
const role = z.union([arn, z.literal('')]).transform((v) => (v === '' ? undefined : v)).optional();
/**
 * OSML takes an int or a numeric string ("512"); nothing else becomes a number (`Number([600])` is 600 and
 * `Number(true)` is 1, so z.coerce would accept them).
 */
const numeric = (schema: z.ZodNumber) => z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v), schema);
const positiveInt = numeric(z.number().int('must be an integer').positive('must be greater than 0'));
const nonNegativeInt = numeric(z.number().int('must be an integer').min(0, 'must not be negative'));
// Tessera's bound: the slot pool holds several tiles per worker (src/util/limits.ts).
const tileSize = numeric(z.number().int('must be an integer').positive('must be greater than 0').max(MAX_TILE_SIZE, `must be at most ${MAX_TILE_SIZE} pixels`));

const s3Output = z.object({ type: z.literal('S3'), bucket: z.string().min(1, 'must not be empty'), prefix: z.string(), role }).strict();
const kinesisOutput = z
  .object({ type: z.literal('Kinesis'), stream: z.string().min(1, 'must not be empty'), batchSize: z.number().int().positive().optional(), assumedRole: role })
  .strict();
/** Tessera's local sink (`tessera run`); not an OSML type. */
const fileOutput = z.object({ type: z.literal('File'), path: z.string().min(1, 'must not be empty') }).strict();
const output = z.discriminatedUnion('type', [s3Output, kinesisOutput, fileOutput], {
  error: (issue) => (issue.code === 'invalid_union' ? 'type must be "S3", "Kinesis" or "File"' : undefined),
});

const nmsAlgorithm = z.object({ algorithmType: z.literal('NMS'), iouThreshold: z.number().min(0).max(1).default(0.75) }).strict();
const softNmsAlgorithm = z
  .object({
    algorithmType: z.literal('SOFT_NMS'),
    iouThreshold: z.number().min(0).max(1).default(0.75),
    skipBoxThreshold: z.number().min(0).max(1).default(0.0001),
    sigma: z.number().positive().default(0.1),
  })
  .strict();
/** Tessera addition: switch de-duplication off (OSML cannot, §16.11). */
const noneAlgorithm = z.object({ algorithmType: z.literal('NONE') }).strict();
const postProcessingStep = z
  .object({
    step: z.literal('FEATURE_DISTILLATION'),
    algorithm: z.discriminatedUnion('algorithmType', [nmsAlgorithm, softNmsAlgorithm, noneAlgorithm], {
      error: (issue) => (issue.code === 'invalid_union' ? 'algorithmType must be "NMS", "SOFT_NMS" or "NONE"' : undefined),
    }),
  })
  .strict();

export const imageRequestSchema = z
  .object({
    jobId: z
      .string()
      .min(1, 'must not be empty')
      .refine((id) => !id.startsWith(JOB_ID_CLAIM_PREFIX), `must not start with ${JSON.stringify(JOB_ID_CLAIM_PREFIX)} (the job table keeps each jobId's claim under that key)`)
      // It names the S3 object, the DynamoDB keys and the SNS attributes: a control character or a lone surrogate
      // half (not text) passed here, then failed the job after every tile had run, or its status never published.
      .refine((id) => !/[\u0000-\u001f\u007f]|\p{Cs}/u.test(id), 'must be text without control characters or lone surrogate halves'),
    jobName: z.string().optional(),
    imageUrls: z.array(z.string().min(1, 'must not be empty')).min(1, 'must hold one image').max(1, 'must hold exactly one image (Tessera processes one image per request)'),
    imageReadRole: role,
    outputs: z.array(output).optional(),
    outputBucket: z.string().optional(),
    outputPrefix: z.string().optional(),
    imageProcessor: z
      .object({
        name: z.string().min(1, 'must not be empty'),
        type: z.enum(['SM_ENDPOINT', 'HTTP_ENDPOINT'], { error: 'must be "SM_ENDPOINT" or "HTTP_ENDPOINT"' }).default('SM_ENDPOINT'),
        assumedRole: role,
      })
      .strict(),
    imageProcessorParameters: z.record(z.string(), z.unknown()).optional().nullable(),
    imageProcessorTileSize: tileSize.default(1024),
    imageProcessorTileOverlap: nonNegativeInt.default(50),
    imageProcessorTileFormat: z.enum(TILE_FORMATS, { error: `must be one of ${TILE_FORMATS.join(', ')}` }).default('NITF'),
    imageProcessorTileCompression: z.enum(TILE_COMPRESSIONS, { error: `must be one of ${TILE_COMPRESSIONS.join(', ')}` }).default('NONE'),
    /** Tessera addition (OSML has no range adjustment, §16.13). */
    rangeAdjustment: z.enum(RANGE_ADJUSTMENTS, { error: `must be one of ${RANGE_ADJUSTMENTS.join(', ')}` }).optional(),
    /** Tessera additions: the NITF image segment to read (0-based) and the bands to send (1-based, in order). */
    imageSegment: nonNegativeInt.optional(),
    bands: z.array(z.number().int('must be an integer').positive('must be 1 or more (bands are 1-based)')).min(1, 'must hold at least one band').optional(),
    regionOfInterest: z.string().nullable().optional(),
    featureProperties: z.array(z.record(z.string(), z.unknown())).default([]),
    postProcessing: z.array(postProcessingStep).max(1, 'must hold at most one FEATURE_DISTILLATION step').optional().nullable(),
  })
  .passthrough()
  .superRefine((req, ctx) => {
    // Runs even when other fields failed (see `when`), so one answer lists every problem.
    if (typeof req.imageProcessorTileOverlap === 'number' && typeof req.imageProcessorTileSize === 'number' && req.imageProcessorTileOverlap >= req.imageProcessorTileSize) {
      ctx.addIssue({ code: 'custom', path: ['imageProcessorTileOverlap'], message: `must be smaller than imageProcessorTileSize (${req.imageProcessorTileOverlap} >= ${req.imageProcessorTileSize})` });
    }
    // A pair no tile encoder carries fails here, not after the image is opened (the sample type is checked then).
    const format = req.imageProcessorTileFormat as TileFormat, compression = req.imageProcessorTileCompression as TileCompression;
    if (TILE_FORMATS.includes(format) && TILE_COMPRESSIONS.includes(compression) && !SUPPORTED_COMPRESSIONS[format].includes(compression)) {
      const choices = SUPPORTED_COMPRESSIONS[format];
      ctx.addIssue({ code: 'custom', path: ['imageProcessorTileCompression'], message: `${compression} is not supported with imageProcessorTileFormat ${format} (use ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]})` });
    }
    if (typeof req.regionOfInterest === 'string' && req.regionOfInterest) {
      try {
        parseRoi(req.regionOfInterest);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['regionOfInterest'], message: (err as Error).message.replace(/^region of interest: /, '') });
      }
    }
  }, { when: (payload) => !!payload.value && typeof payload.value === 'object' });

export type ImageRequestInput = z.input<typeof imageRequestSchema>;
export type ImageRequest = z.output<typeof imageRequestSchema>;
export type Output = z.output<typeof output>;

export class InvalidRequestError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid image request: ${problems.join('; ')}`);
    this.name = 'InvalidRequestError';
  }
}

/** Parses a message body (string or object); throws InvalidRequestError listing every problem. */
/**
 * The largest request body: SQS's long-standing 256 KiB (the job item keeps the request, in DynamoDB's 400 KB items;
 * a 1 MB request failed each delivery there with a reason naming no field).
 */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** The deepest nesting of arrays and objects in a request (OSML's has 4 levels): deeper ones overflowed the stack. */
export const MAX_REQUEST_DEPTH = 32;

/** How deep a JSON text nests its arrays and objects (outside strings), stopping once past `limit`. */
function jsonDepth(text: string, limit: number): number {
  let depth = 0, deepest = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

export function parseImageRequest(body: unknown): ImageRequest {
  let value = body;
  if (typeof body === 'string') {
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > MAX_REQUEST_BYTES) throw new InvalidRequestError([`body is ${bytes} bytes; a request may have at most ${MAX_REQUEST_BYTES}`]);
    if (jsonDepth(body, MAX_REQUEST_DEPTH) > MAX_REQUEST_DEPTH) throw new InvalidRequestError([`body nests arrays and objects more than ${MAX_REQUEST_DEPTH} levels deep`]);
    try {
      value = JSON.parse(body);
    } catch (err) {
      throw new InvalidRequestError([`body is not JSON (${(err as Error).message})`]);
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InvalidRequestError(['body must be a JSON object']);
  const parsed = imageRequestSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidRequestError(parsed.error.issues.map((i) => `${i.path.length ? fieldPath(i.path) : 'request'}: ${i.message}`));
  }
  return parsed.data;
}

/**
 * A field's path as a JSON consumer writes it: `postProcessing[0].algorithm.algorithmType`; a member whose name is
 * not an identifier in brackets, JSON-quoted: `imageProcessorParameters["Bad Header"]` (fieldOfProblem reads both).
 */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : memberSegment(String(k), i === 0))).join('');
}

/** The path of member `key` of the field at `base`. */
export function memberPath(base: string, key: string): string {
  return `${base}${memberSegment(key, false)}`;
}

const IDENTIFIER = /^[A-Za-z_]\w*$/;

function memberSegment(key: string, first: boolean): string {
  if (!IDENTIFIER.test(key)) return `[${JSON.stringify(key)}]`;
  return first ? key : `.${key}`;
}

/** The outputs of a request, with the legacy outputBucket/outputPrefix folded in (used only when outputs is empty). */
export function requestOutputs(req: ImageRequest): Output[] {
  if (req.outputs && req.outputs.length) return req.outputs;
  if (req.outputBucket) return [{ type: 'S3', bucket: req.outputBucket, prefix: req.outputPrefix ?? '' }];
  return [];
}

/** The distillation a request asks for; OSML's default is NMS at 0.75. */
export function requestDistillation(req: ImageRequest): Distillation {
  const algorithm = req.postProcessing?.[0]?.algorithm;
  if (!algorithm) return { algorithm: 'NMS', iouThreshold: 0.75 };
  switch (algorithm.algorithmType) {
    case 'NMS': return { algorithm: 'NMS', iouThreshold: algorithm.iouThreshold };
    case 'SOFT_NMS': return { algorithm: 'SOFT_NMS', iouThreshold: algorithm.iouThreshold, skipBoxThreshold: algorithm.skipBoxThreshold, sigma: algorithm.sigma };
    case 'NONE': return { algorithm: 'NONE' };
  }
}

/** OSML's image id: "<jobId>:<imageUrl>". */
export function imageIdOf(req: ImageRequest): string {
  return `${req.jobId}:${req.imageUrls[0]}`;
}
