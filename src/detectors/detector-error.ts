/**
 * The one error a detector rejects with: the message is complete on its own (tile, what went wrong, status,
 * attempts, body excerpt) because it may cross a worker-thread boundary, where structured cloning keeps only
 * `name` and `message` of an Error.
 */

export type DetectorErrorKind =
  | 'http-status' // a non-2xx answer (after retries when the status is retryable)
  | 'not-json' // a 2xx answer whose body does not parse as JSON
  | 'not-feature-collection' // JSON, but not a GeoJSON FeatureCollection
  | 'no-features' // a FeatureCollection without a `features` array (OSML's failure model, "purple")
  | 'too-many-features' // more features than a tile may hold (MAX_FEATURES_PER_TILE)
  | 'response-too-large' // a body over MAX_MODEL_RESPONSE_BYTES (not read past the limit)
  | 'connection' // no HTTP answer: refused, reset, DNS, detector closed
  | 'timeout'; // no complete answer within the time limit

export interface DetectorErrorDetails {
  kind: DetectorErrorKind;
  tileLabel: string;
  attempts: number;
  status?: number;
  /** Start of the response body, as received. */
  bodyExcerpt?: string;
  cause?: unknown;
}

export class DetectorError extends Error {
  readonly kind: DetectorErrorKind;
  readonly tileLabel: string;
  readonly attempts: number;
  readonly status?: number;
  readonly bodyExcerpt?: string;

  constructor(message: string, details: DetectorErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DetectorError';
    this.kind = details.kind;
    this.tileLabel = details.tileLabel;
    this.attempts = details.attempts;
    if (details.status !== undefined) this.status = details.status;
    if (details.bodyExcerpt !== undefined) this.bodyExcerpt = details.bodyExcerpt;
  }
}
