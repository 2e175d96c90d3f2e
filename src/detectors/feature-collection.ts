/**
 * The one response check every detector applies (HTTP and SageMaker runtime alike): a 2xx status, a JSON body, a
 * GeoJSON FeatureCollection (OSML only reads `features`, so `type` may be absent, but not different) with a
 * `features` array. Anything else is a DetectorError naming the tile, status, attempts and a body excerpt.
 */
import type { DetectionContext } from './detector.js';
import { DetectorError, type DetectorErrorKind } from './detector-error.js';
import { MAX_FEATURES_PER_TILE } from '../util/limits.js';

export const BODY_EXCERPT_CHARS = 200;

/**
 * The `features` array of a model's answer, or a DetectorError (`http-status`, `not-json`, `not-feature-collection`,
 * `no-features`, `too-many-features` past `maxFeatures`).
 */
export function parseFeatureCollection(status: number, body: string, context: DetectionContext, attempts: number, maxFeatures = MAX_FEATURES_PER_TILE): unknown[] {
  const fail = (kind: DetectorErrorKind, problem: string) =>
    new DetectorError(`${context.tileLabel}: model returned HTTP ${status}${problem}: ${bodyExcerpt(body)}`, {
      kind,
      tileLabel: context.tileLabel,
      attempts,
      status,
      bodyExcerpt: body.slice(0, BODY_EXCERPT_CHARS),
    });
  if (status < 200 || status > 299) throw fail('http-status', ` after ${plural(attempts, 'attempt')}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw fail('not-json', ' with a body that is not JSON');
  }
  if (!isPlainObject(parsed) || (parsed.type !== undefined && parsed.type !== 'FeatureCollection')) {
    throw fail('not-feature-collection', ' with JSON that is not a GeoJSON FeatureCollection');
  }
  if (!Array.isArray(parsed.features)) {
    throw fail('no-features', ' with a FeatureCollection that has no "features" array');
  }
  if (parsed.features.length > maxFeatures) {
    throw fail('too-many-features', ` with ${parsed.features.length} features; a tile may hold at most ${maxFeatures}`);
  }
  return parsed.features;
}

/** The DetectorError for an answer whose body is larger than `maxBytes` (its size, if known; its start). */
export function responseTooLarge(status: number, context: DetectionContext, attempts: number, maxBytes: number, excerpt: string, bytes?: number): DetectorError {
  const size = bytes === undefined ? 'more than' : `${bytes} bytes, more than`;
  return new DetectorError(`${context.tileLabel}: model returned HTTP ${status} with a body of ${size} the ${maxBytes} bytes a tile's answer may have: ${bodyExcerpt(excerpt)}`, {
    kind: 'response-too-large',
    tileLabel: context.tileLabel,
    attempts,
    status,
    bodyExcerpt: excerpt.slice(0, BODY_EXCERPT_CHARS),
  });
}

/** A short, quoted, single-line view of a response body for error messages. */
export function bodyExcerpt(body: string): string {
  const oneLine = body.replace(/\s+/g, ' ').trim();
  return oneLine.length > BODY_EXCERPT_CHARS
    ? `${JSON.stringify(oneLine.slice(0, BODY_EXCERPT_CHARS))}…`
    : JSON.stringify(oneLine);
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
