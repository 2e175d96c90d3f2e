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
}

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

  constructor(options: MetricsOptions = {}) {
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
    const dims: Record<string, string> = { Operation: operation };
    if (dimensions.modelName) dims.ModelName = dimensions.modelName;
    if (dimensions.inputFormat) dims.InputFormat = dimensions.inputFormat;
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
    if (++this.pendingEvents >= this.maxPending) void this.flush().catch(() => undefined);
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

  /** Writes every recorded event. */
  flush(): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.pendingEvents = 0;
    this.flushing = this.flushing.then(async () => {
      for (const logger of batch) await logger.flush();
    });
    return this.flushing;
  }
}
