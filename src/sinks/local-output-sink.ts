/**
 * The output of `tessera run`: the FeatureCollection streamed to a checked output target (a file written to a
 * temporary name and renamed into place, a device, or standard output), with members such as the run's metadata
 * added after the features once they are all written.
 */
import { writeFeatureCollection, writeFeatureCollectionTo } from './file-sink.js';
import type { OutputTarget } from './output-target.js';
import { countFeatures, type FeatureSource, type Sink, type SinkContext, type SinkResult } from './sink.js';

export type OutputMembers = (written: { featuresWritten: number; featuresStored?: number }) => Record<string, unknown>;

export class LocalOutputSink implements Sink {
  readonly type = 'File';

  constructor(private readonly output: OutputTarget, private readonly members: OutputMembers = () => ({})) {}

  get target(): string {
    return this.output.kind === 'stdout' ? '-' : this.output.path;
  }

  async write(source: FeatureSource, context: SinkContext): Promise<SinkResult> {
    const features = countFeatures(source());
    const extra = () => this.members({ featuresWritten: features.count, ...(context.featuresStored !== undefined ? { featuresStored: context.featuresStored } : {}) });
    if (this.output.kind === 'file') await writeFeatureCollection(this.output.path, features, extra);
    else await writeFeatureCollectionTo(this.output.kind === 'stdout' ? 'stdout' : this.output.path, features, extra);
    return { featuresWritten: features.count, location: this.target };
  }
}
