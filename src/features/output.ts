import type { Feature } from './geojson.js';

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

export function nitfDateTimeToIso(value: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value.trim());
  // NITF allows '-' fill for unknown parts; keep the raw text rather than invent a date.
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : value.trim();
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
  return feature;
}
