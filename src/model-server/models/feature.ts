/**
 * The detection template of OSML's test models (`detect_to_feature`): a GeoJSON Feature with no world geometry,
 * the pixel box in `imageBBox`, a Point [0, 0] `imageGeometry` unless a mask polygon is given (MR translates that
 * point to the tile's upper-left corner), one feature class and random 32-hex `id` and `image_id`.
 */
import { randomHex, type Rng } from '../random.js';

export type Position = [number, number];

export interface TestModelFeature {
  type: 'Feature';
  geometry: null;
  id: string;
  properties: {
    imageGeometry: { type: 'Point'; coordinates: Position } | { type: 'Polygon'; coordinates: Position[][] };
    imageBBox: [number, number, number, number];
    featureClasses: { iri: string; score: number }[];
    modelMetadata: { modelName: string; ontologyName: string; ontologyVersion: string };
    image_id: string;
  };
}

export interface TestModelFeatureCollection {
  type: 'FeatureCollection';
  features: TestModelFeature[];
}

export interface DetectionSpec {
  bbox: [number, number, number, number];
  /** Closed polygon ring in tile pixels; becomes a Polygon `imageGeometry`. */
  mask?: Position[];
  score?: number;
  iri?: string;
  modelName: string;
}

export function detectionToFeature(detection: DetectionSpec, rng: Rng): TestModelFeature {
  const { bbox, mask, score = 1.0, iri = 'sample_object', modelName } = detection;
  return {
    type: 'Feature',
    geometry: null,
    id: randomHex(rng, 16),
    properties: {
      imageGeometry: mask ? { type: 'Polygon', coordinates: [mask] } : { type: 'Point', coordinates: [0.0, 0.0] },
      imageBBox: bbox,
      featureClasses: [{ iri, score }],
      modelMetadata: { modelName, ontologyName: modelName, ontologyVersion: '1.0.0' },
      image_id: randomHex(rng, 16),
    },
  };
}
