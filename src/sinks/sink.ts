import type { Feature } from '../features/geojson.js';
import { writeFeatureCollection } from './file-sink.js';
import { errorDetails, silentLogger, type AwsLogger } from '../aws/logger.js';
import { resolveFileOutput, type LocalScope } from '../api/request-paths.js';

/**
 * Where an image's features go at the end of a job. Each sink reads the features once from a fresh pass over the
 * source (a function returning a new iterable each call), so the whole set is never needed in memory for a
 * streaming sink. All requested sinks are attempted, whatever the others did; the outcome says which succeeded
 * (OSML stops at the first exception and calls a job successful if any sink type worked, §8.3/§16.17).
 */
export type FeatureSource = () => AsyncIterable<Feature> | Iterable<Feature>;

export interface SinkContext {
  jobId: string;
  /** Foreign members written after `features` by the collection sinks (S3, file). */
  extra?: Record<string, unknown>;
  /** Features stored for the job before de-duplication (aggregation knows it before any sink runs). */
  featuresStored?: number;
}

export interface FeatureError {
  /** Position of the feature in the source pass. */
  index: number;
  id?: string | number;
  /** The tile the feature came from (added by the aggregation, which knows; a sink does not). */
  tile?: string;
  reason: string;
}

export interface SinkResult {
  featuresWritten: number;
  /** Where the output landed: `s3://bucket/key`, `kinesis:stream`, a file path. */
  location: string;
  /** Features that could not be written (e.g. over a per-record size limit): the sink is then not ok. */
  featureErrors?: FeatureError[];
}

export interface Sink {
  /** `S3`, `Kinesis`, `File` (OSML's output type names). */
  readonly type: string;
  /** Human-readable target, e.g. `s3://bucket/prefix/`. */
  readonly target: string;
  write(source: FeatureSource, context: SinkContext): Promise<SinkResult>;
}

export interface SinkOutcome {
  type: string;
  target: string;
  ok: boolean;
  featuresWritten: number;
  location?: string;
  /** Why the sink failed as a whole. */
  error?: string;
  featureErrors?: FeatureError[];
}

/** Runs every sink in turn over its own pass of the source; never throws, returns one outcome per sink. */
export async function writeToSinks(sinks: readonly Sink[], source: FeatureSource, context: SinkContext, logger: AwsLogger = silentLogger): Promise<SinkOutcome[]> {
  const outcomes: SinkOutcome[] = [];
  for (const sink of sinks) {
    try {
      const result = await sink.write(source, context);
      const ok = !result.featureErrors?.length;
      outcomes.push({ type: sink.type, target: sink.target, ok, featuresWritten: result.featuresWritten, location: result.location, ...(ok ? {} : { featureErrors: result.featureErrors }) });
      if (!ok) logger.warn({ jobId: context.jobId, sink: sink.target, failedFeatures: result.featureErrors!.length, firstErrors: result.featureErrors!.slice(0, 3) }, 'sink could not write some features');
    } catch (err) {
      logger.error({ jobId: context.jobId, sink: sink.target, ...errorDetails(err) }, 'sink failed');
      outcomes.push({ type: sink.type, target: sink.target, ok: false, featuresWritten: 0, error: errorDetails(err).error });
    }
  }
  return outcomes;
}

/**
 * What the outputs make of a job, as tiles make a region: SUCCESS when every sink wrote every feature; PARTIAL when
 * every sink wrote something but some skipped features (a record over Kinesis's limit, records it kept refusing);
 * FAILED when a sink failed as a whole or wrote none of its features (its output is not where it was asked to be),
 * or when there was no sink at all.
 */
export type OutputsStatus = 'SUCCESS' | 'PARTIAL' | 'FAILED';

export function outputsStatus(outcomes: readonly SinkOutcome[]): OutputsStatus {
  if (!outcomes.length) return 'FAILED';
  if (outcomes.some((o) => o.error !== undefined || (o.featureErrors?.length && o.featuresWritten === 0))) return 'FAILED';
  return outcomes.some((o) => !o.ok) ? 'PARTIAL' : 'SUCCESS';
}

/**
 * The local file sink (`writeFeatureCollection`: streamed into a temporary file renamed over the target). In the
 * service the path is resolved within the operator's folder when it is written (request-paths.ts), not before:
 * the folder's contents may have changed since the request was accepted.
 */
export class FileSink implements Sink {
  readonly type = 'File';
  constructor(readonly path: string, private readonly scope: LocalScope = { kind: 'anywhere' }) {}

  get target(): string {
    return this.path;
  }

  async write(source: FeatureSource, context: SinkContext): Promise<SinkResult> {
    const path = await resolveFileOutput(this.path, this.scope);
    const counted = countFeatures(source());
    await writeFeatureCollection(path, counted, context.extra);
    return { featuresWritten: counted.count, location: path };
  }
}

/** Passes features through, counting them. */
export function countFeatures(features: AsyncIterable<Feature> | Iterable<Feature>): AsyncIterable<Feature> & { count: number } {
  const counter = {
    count: 0,
    async *[Symbol.asyncIterator]() {
      for await (const f of features) {
        counter.count++;
        yield f;
      }
    },
  };
  return counter;
}
