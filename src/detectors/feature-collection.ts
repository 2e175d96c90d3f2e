/**
 * The one response check every detector applies (HTTP and SageMaker runtime alike): a 2xx status, a JSON body, a
 * GeoJSON FeatureCollection (OSML only reads `features`, so `type` may be absent, but not different) with a
 * `features` array. Anything else is a DetectorError naming the tile, status, attempts and a body excerpt.
 */
import type { DetectionContext } from './detector.js';
import { DetectorError, type DetectorErrorKind } from './detector-error.js';

export const BODY_EXCERPT_CHARS = 200;

/** The `features` array of a model's answer, or a DetectorError (`http-status`, `not-json`, `not-feature-collection`, `no-features`). */
export function parseFeatureCollection(status: number, body: string, context: DetectionContext, attempts: number): unknown[] {
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
  return parsed.features;
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
