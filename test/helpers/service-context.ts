// The service's handlers on in-process stores and queues, for tests that drive them directly. No tile is read or
// sent here (pool and readResources are absent): tests that process tiles go through runLocal or tessera serve.
import type { ImageRequest } from '../../src/api/image-request.js';
import type { Feature } from '../../src/features/geojson.js';
import type { Metrics } from '../../src/metrics/emf.js';
import { MemoryQueue } from '../../src/queues/memory-queue.js';
import type { ServiceContext } from '../../src/service/context.js';
import { localServiceConfig } from '../../src/service/local-run.js';
import type { Sink } from '../../src/sinks/sink.js';
import { MemoryFeatureStore, MemoryJobStore, MemoryRegionStore } from '../../src/state/memory-stores.js';
import type { StatusPublisher } from '../../src/status/sns-status.js';

/** A service context of in-process parts; `overrides` replace any of them (status, metrics, sinks, queues ...). */
export function memoryServiceContext(overrides: Partial<ServiceContext> = {}, regionSize = 512): ServiceContext {
  const config = localServiceConfig({ request: {} as ImageRequest, regionSize, tilingStrategy: 'variable-overlap', quality: 90, maxPayloadBytes: 0, timeoutMs: 1000, maxRetries: 0 }, 1);
  config.maxDeliveries = 3;
  return {
    config,
    jobs: new MemoryJobStore(),
    regions: new MemoryRegionStore(),
    features: new MemoryFeatureStore(),
    imageQueue: new MemoryQueue('local://image'),
    regionQueue: new MemoryQueue('local://region'),
    imageDlq: new MemoryQueue('local://image-dlq'),
    status: { publishImageStatus: async () => true, publishRegionStatus: async () => true, publishes: () => true } as unknown as StatusPublisher,
    metrics: { record: () => undefined } as unknown as Metrics,
    pool: null as unknown as ServiceContext['pool'],
    readResources: null as unknown as ServiceContext['readResources'],
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
    owner: 'test',
    sinkClients: {} as ServiceContext['sinkClients'],
    rasterInfo: new Map(),
    ...overrides,
  };
}

/** An output that records the features it was given, one list per write. */
export function recordingSink(): { sink: Sink; written: Feature[][] } {
  const written: Feature[][] = [];
  const sink: Sink = {
    type: 'Test',
    target: 'test',
    write: async (source) => {
      const out: Feature[] = [];
      for await (const f of source()) out.push(f);
      written.push(out);
      return { featuresWritten: out.length, location: 'test' };
    },
  };
  return { sink, written };
}
