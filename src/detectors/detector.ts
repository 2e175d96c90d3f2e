/**
 * What the pipeline needs from a model endpoint, whatever its transport (HTTP today, SageMaker runtime later):
 * send one encoded tile, get its GeoJSON features back.
 */

export interface DetectionContext {
  /** Human-readable tile name used in errors, e.g. OSML's `(row, col)(width, height)` form. */
  tileLabel: string;
}

export interface Detection {
  /** The `features` array of the model's FeatureCollection, unvalidated beyond being an array. */
  features: unknown[];
  /** HTTP attempts made, 1 when the first one succeeded (feeds the `Retries` metric). */
  attempts: number;
}

export interface Detector {
  /** Resolves with the tile's features or rejects with a `DetectorError`. */
  detect(tile: Uint8Array, context: DetectionContext): Promise<Detection>;
  /** Releases connections; pending `detect` calls stop retrying and fail. */
  close(): Promise<void>;
}
