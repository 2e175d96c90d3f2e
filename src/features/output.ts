import type { Feature } from './geojson.js';
import { topClass } from './refine.js';

/** Properties OSML removes before writing (reference §4.5). */
const DROPPED_PROPERTIES = ['inferenceTime', 'bounds_imcoords', 'geom_imcoords', 'detection_score', 'feature_types', 'image_id', 'adjusted_feature_types'];

export interface SourceMetadata {
  location: string;
  format: 'NITF';
  category: string;
  sourceId: string;
  sourceDT: string;
}

/** OSML's sourceMetadata entry for NITF inputs: ICAT, FTITLE and IDATIM (CCYYMMDDhhmmss) as ISO-8601 UTC. */
export function nitfSourceMetadata(location: string, metadata: Record<string, string>): SourceMetadata | null {
  if (!('NITF_FHDR' in metadata) && !('NITF_IDATIM' in metadata)) return null;
  return {
    location,
    format: 'NITF',
    category: (metadata.NITF_ICAT ?? '').trim(),
    sourceId: (metadata.NITF_FTITLE ?? '').trim(),
    sourceDT: nitfDateTimeToIso(metadata.NITF_IDATIM ?? ''),
  };
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/**
 * A NITF date-time as CCYYMMDDhhmmss: NITF 2.1 already is; NITF 2.0 writes DDhhmmssZMONYY (e.g. 01224428ZMAR93,
 * years 70-99 are 19xx, 00-69 are 20xx). Null when the value is neither (NITF allows '-' fill for unknown parts).
 */
export function nitfDateTime(value: string): string | null {
  const v = value.trim();
  if (/^\d{14}$/.test(v)) return v;
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})Z([A-Z]{3})(\d{2})$/.exec(v.toUpperCase());
  if (!m || !MONTHS.includes(m[5])) return null;
  const yy = Number(m[6]);
  const month = String(MONTHS.indexOf(m[5]) + 1).padStart(2, '0');
  return `${yy >= 70 ? 1900 + yy : 2000 + yy}${month}${m[1]}${m[2]}${m[3]}${m[4]}`;
}

export function nitfDateTimeToIso(value: string): string {
  const d = nitfDateTime(value);
  // Keep the raw text rather than invent a date.
  return d ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(8, 10)}:${d.slice(10, 12)}:${d.slice(12, 14)}Z` : value.trim();
}

/**
 * Final shape of an output feature (OSML's add_properties_to_features): inferenceMetadata, the request's
 * featureProperties merged in order (later wins), internal properties removed.
 */
export function finalizeFeature(feature: Feature, jobId: string, featureProperties: Record<string, unknown>[]): Feature {
  const props = feature.properties;
  props.inferenceMetadata = { jobId, inferenceDT: props.inferenceTime };
  for (const extra of featureProperties) Object.assign(props, extra);
  for (const key of DROPPED_PROPERTIES) delete props[key];
  // OSML's member order: type, id, bbox, geometry, properties.
  return {
    type: 'Feature',
    ...(feature.id !== undefined ? { id: feature.id } : {}),
    ...(feature.bbox ? { bbox: feature.bbox } : {}),
    geometry: feature.geometry,
    properties: props,
  };
}

/**
 * Soft-NMS's decayed score written into the feature's top class, the original kept as rawScore (OSML copies the
 * original back, §16.11). Nothing changes when the score did not decay.
 */
export function applyDecayedScore(feature: Feature, score: number): void {
  const { label, score: original } = topClass(feature);
  if (score === original) return;
  const classes = feature.properties.featureClasses as { iri: string; score: number; rawScore?: number }[] | undefined;
  const top = classes?.find((c) => c.iri === label && c.score === original);
  if (top) {
    top.rawScore = top.score;
    top.score = score;
  }
}
