import { createHash } from 'node:crypto';
import { MetricsLogger, Unit } from 'aws-embedded-metrics';
import { LogSerializer } from 'aws-embedded-metrics/lib/serializers/LogSerializer.js';
import type { IEnvironment } from 'aws-embedded-metrics/lib/environment/IEnvironment.js';
import type { MetricsContext } from 'aws-embedded-metrics/lib/logger/MetricsContext.js';

/**
 * CloudWatch metrics as Embedded Metric Format JSON lines, with OSML's namespace, metric names and dimensions
 * (§10), so existing dashboards keep working. Lines go to stdout by default, where the container's log driver
 * ships them and CloudWatch extracts the metrics, which is what OSML's "Local" environment does. The library's
 * environment auto-detection is bypassed on purpose: it would probe the EC2 metadata address.
 *
 * Events are batched between flushes: events of the same operation, dimensions and properties go into one EMF
 * document whose metrics hold arrays of values (EMF allows 100 values per metric per document; the library's
 * serializer splits longer arrays). Each value stays one sample to CloudWatch, so per-tile events keep OSML's
 * statistics (SampleCount, Sum, Average, percentiles) at a few documents per flush instead of one per tile. A
 * document carries the time of its first event; the service flushes after every message and every 10 s.
 *
 * Metrics never fail work: record() does not throw and flush() does not reject. Dimension values are
 * made into what EMF accepts (metricDimensionValue), anything the library still refuses is dropped with a warning
 * logged once per reason, and a flush that fails is logged and leaves later flushes to run.
 */
export const METRICS_NAMESPACE = 'OSML/ModelRunner';

export const OPERATIONS = [
  'ImageProcessing',
  'RegionProcessing',
  'TileGeneration',
  'TileProcessing',
  'ModelInvocation',
  'FeatureRefinement',
  'FeatureStorage',
  'FeatureAggregation',
  'FeatureSelection',
  'FeatureDissemination',
  'Scheduling',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface MetricValues {
  /** Seconds (OSML's unit for Duration). */
  duration?: number;
  invocations?: number;
  errors?: number;
  throttles?: number;
  retries?: number;
  /** Percent (NEW OSML's scheduling metric). */
  utilization?: number;
}

export interface MetricDimensions {
  /** SageMaker endpoint name or HTTP endpoint URL. */
  modelName?: string;
  /** GDAL driver short name upper-cased: NITF, GTIFF, ... */
  inputFormat?: string;
}

export interface MetricsOptions {
  namespace?: string;
  serviceName?: string;
  logGroupName?: string;
  /** Where each EMF JSON line goes; default stdout. */
  write?: (line: string) => void;
  /** Events recorded before an automatic flush. Default 200. */
  maxPending?: number;
  /** Record nothing (a local run has no CloudWatch to feed). */
  disabled?: boolean;
  /** Where metrics' own problems are told (once per reason); default a JSON line on stderr. */
  logger?: MetricsProblemLogger;
}

export interface MetricsProblemLogger {
  warn(details: object, message: string): void;
}

const stderrLogger: MetricsProblemLogger = {
  warn: (details, message) => void process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), ...details, msg: message })}\n`),
};

/** EMF's (and CloudWatch's) limit on a dimension value's length. */
export const MAX_DIMENSION_VALUE_LENGTH = 1024;

/**
 * A dimension value EMF accepts (aws-embedded-metrics refuses, by throwing, values that are not ASCII, longer than
 * 1024 characters or only whitespace), with why it was changed: characters outside ASCII are written as the
 * percent-escapes of their UTF-8 bytes (as in a URL; a lone surrogate as U+FFFD's), a value still too long keeps its
 * first characters and ends with `#` and 16 hex digits of the SHA-256 of the whole value (two long names stay two
 * dimension values), a value of only whitespace becomes `(blank)`.
 */
export function metricDimensionValue(value: string): { value: string; changed?: string } {
  let v = value;
  const reasons: string[] = [];
  if (/[^\x00-\x7f]/.test(v)) {
    v = v.replace(/[^\x00-\x7f]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
    reasons.push('not ASCII: percent-encoded');
  }
  if (v.length > MAX_DIMENSION_VALUE_LENGTH) {
    const hash = createHash('sha256').update(value).digest('hex').slice(0, 16);
    v = `${v.slice(0, MAX_DIMENSION_VALUE_LENGTH - hash.length - 1)}#${hash}`;
    reasons.push(`longer than ${MAX_DIMENSION_VALUE_LENGTH} characters: cut short and ended with a hash of the whole value`);
  }
  if (v.trim() === '') {
    v = '(blank)';
    reasons.push('only whitespace: written as (blank)');
  }
  return reasons.length ? { value: v, changed: reasons.join('; ') } : { value: v };
}

/** The class of an error (aws-embedded-metrics' errors keep the name "Error"). */
const errorKind = (err: unknown): string => (err instanceof Error ? err.constructor.name : typeof err);

const METRIC_UNITS: Record<keyof MetricValues, [name: string, unit: Unit]> = {
  duration: ['Duration', Unit.Seconds],
  invocations: ['Invocations', Unit.Count],
  errors: ['Errors', Unit.Count],
  throttles: ['Throttles', Unit.Count],
  retries: ['Retries', Unit.Count],
  utilization: ['Utilization', Unit.Percent],
};

export class Metrics {
  private readonly namespace: string;
  private readonly maxPending: number;
  private readonly environment: IEnvironment;
  /** One logger per (operation, dimensions, properties) since the last flush; values accumulate in it. */
  private pending = new Map<string, MetricsLogger>();
  private pendingEvents = 0;
  private flushing: Promise<void> = Promise.resolve();
  private readonly disabled: boolean;
  private readonly logger: MetricsProblemLogger;
  /** The problems already logged (each once per process). */
  private readonly told = new Set<string>();

  constructor(options: MetricsOptions = {}) {
    this.logger = options.logger ?? stderrLogger;
    this.namespace = options.namespace ?? METRICS_NAMESPACE;
    this.maxPending = options.maxPending ?? 200;
    this.disabled = options.disabled ?? false;
    const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
    const serializer = new LogSerializer();
    const sink = {
      name: 'LineSink',
      accept: async (context: MetricsContext) => {
        for (const line of serializer.serialize(context)) write(line);
      },
    };
    const serviceName = options.serviceName ?? 'OSML';
    const logGroupName = options.logGroupName ?? '/aws/OSML/MRService';
    this.environment = {
      probe: async () => true,
      getName: () => serviceName,
      getType: () => 'ModelRunner',
      getLogGroupName: () => logGroupName,
      configureContext: () => undefined,
      getSink: () => sink,
    };
  }

  /**
   * Records one event for an operation: the given metric values under the dimension set
   * {Operation[, ModelName][, InputFormat]} (the library's default dimensions are not used, as OSML clears them).
   * `properties` are searchable log fields that are not metrics (job id, image id).
   */
  record(operation: Operation, values: MetricValues, dimensions: MetricDimensions = {}, properties: Record<string, unknown> = {}): void {
    if (this.disabled) return;
    try {
      this.add(operation, values, dimensions, properties);
    } catch (err) {
      // What aws-embedded-metrics still refuses: this event is lost, never the work that recorded it.
      // Once per operation and kind of error (the library's messages carry the refused value).
      this.tell(`record:${operation}:${errorKind(err)}`, { operation, error: (err as Error).message }, `a ${operation} metric event was refused by aws-embedded-metrics and dropped`);
    }
    if (++this.pendingEvents >= this.maxPending) void this.flush();
  }

  private add(operation: Operation, values: MetricValues, dimensions: MetricDimensions, properties: Record<string, unknown>): void {
    const dims: Record<string, string> = { Operation: operation };
    if (dimensions.modelName) dims.ModelName = this.dimensionValue('ModelName', dimensions.modelName);
    if (dimensions.inputFormat) dims.InputFormat = this.dimensionValue('InputFormat', dimensions.inputFormat);
    const batchKey = JSON.stringify([dims, properties]);
    let logger = this.pending.get(batchKey);
    if (!logger) {
      logger = new MetricsLogger(async () => this.environment);
      logger.setNamespace(this.namespace);
      logger.setDimensions(dims, false);
      for (const [k, v] of Object.entries(properties)) logger.setProperty(k, v);
      this.pending.set(batchKey, logger);
    }
    for (const [key, value] of Object.entries(values) as [keyof MetricValues, number | undefined][]) {
      if (value === undefined || !Number.isFinite(value)) continue;
      const [name, unit] = METRIC_UNITS[key];
      logger.putMetric(name, value, unit); // a second value of a metric extends its array
    }
  }

  private dimensionValue(name: string, value: string): string {
    const { value: v, changed } = metricDimensionValue(value);
    if (changed) this.tell(`dimension:${name}:${changed}`, { dimension: name, value: value.length > 200 ? `${value.slice(0, 200)}...` : value, written: v.length > 200 ? `${v.slice(0, 200)}...` : v }, `the ${name} metric dimension value is ${changed} (EMF accepts ASCII values of at most ${MAX_DIMENSION_VALUE_LENGTH} characters)`);
    return v;
  }

  /** Logs a problem of the metrics once per process (`reason` says which are the same). */
  private tell(reason: string, details: object, message: string): void {
    if (this.told.has(reason)) return;
    this.told.add(reason);
    try {
      this.logger.warn(details, message);
    } catch {
      // Nowhere left to tell it.
    }
  }

  /** Runs `fn`, recording Duration and Invocations=1, and Errors=1 if it throws (rethrown). */
  async time<T>(operation: Operation, dimensions: MetricDimensions, fn: () => Promise<T>, properties?: Record<string, unknown>): Promise<T> {
    const start = performance.now();
    try {
      const result = await fn();
      this.record(operation, { duration: (performance.now() - start) / 1000, invocations: 1 }, dimensions, properties);
      return result;
    } catch (err) {
      this.record(operation, { duration: (performance.now() - start) / 1000, invocations: 1, errors: 1 }, dimensions, properties);
      throw err;
    }
  }

  /**
   * Writes every recorded event. Never rejects, and each flush stands on its own: a document that cannot be written
   * (its line refused by stdout, a property that cannot be serialised) is logged, once per reason, and dropped, and
   * the other documents and every later flush are written (one rejection used to stay in the chain of flushes and
   * skip every flush after it for the life of the process).
   */
  flush(): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.pendingEvents = 0;
    this.flushing = this.flushing.then(async () => {
      for (const logger of batch) {
        try {
          await logger.flush();
        } catch (err) {
          this.tell(`flush:${errorKind(err)}:${(err as Error).message}`, { error: (err as Error).message }, 'writing a metrics document failed: its events are dropped');
        }
      }
    });
    return this.flushing;
  }
}
