import type { SensorModel } from '../geolocation/sensor-model.js';
import {
  type Bounds,
  type Feature,
  type Geometry,
  centroid,
  geometryBounds,
  isGeometry,
  mapPositions,
  roundGeometry,
  roundHalfEven,
} from './geojson.js';

/**
 * Moves a model's features from tile pixels to image pixels and geolocates them, as OSML's tile worker does
 * (reference §4.4): imageBBox and imageGeometry are translated by the tile origin; deprecated properties
 * (geom_imcoords, detection.pixelCoordinates, bounds_imcoords) become imageGeometry; feature_types becomes
 * featureClasses; with a sensor model, geometry / bbox / center_* are filled in WGS84 degrees.
 */
export interface RefineContext {
  tileX: number;
  tileY: number;
  /** Epoch ms of the model response; becomes inferenceMetadata.inferenceDT. */
  inferenceTime: number;
  sensorModel: SensorModel | null;
}

export class FeatureShapeError extends Error {}

export function refineFeatures(rawFeatures: unknown[], ctx: RefineContext): Feature[] {
  const out: Feature[] = [];
  rawFeatures.forEach((raw, index) => out.push(refineFeature(raw, index, ctx)));
  return out;
}

function refineFeature(raw: unknown, index: number, ctx: RefineContext): Feature {
  if (!raw || typeof raw !== 'object' || (raw as { type?: unknown }).type !== 'Feature') {
    throw new FeatureShapeError(`features[${index}] is not a GeoJSON Feature`);
  }
  const src = raw as { id?: unknown; geometry?: unknown; properties?: unknown; bbox?: unknown };
  const properties: Record<string, unknown> = { ...(src.properties && typeof src.properties === 'object' ? (src.properties as Record<string, unknown>) : {}) };
  const shift = (p: number[]) => [p[0] + ctx.tileX, p[1] + ctx.tileY, ...p.slice(2)];

  const bbox = properties.imageBBox;
  let imageBBox: Bounds | null = null;
  if (bbox !== undefined) {
    if (!isBox(bbox)) throw new FeatureShapeError(`features[${index}].properties.imageBBox is not [minx, miny, maxx, maxy]`);
    // Inverted, the box would go out as coordinates that contradict its own centre and geometry.
    if (bbox[0] > bbox[2] || bbox[1] > bbox[3]) throw new FeatureShapeError(`features[${index}].properties.imageBBox ${JSON.stringify(bbox.slice(0, 4))} is not [minx, miny, maxx, maxy]: a minimum is greater than its maximum`);
    imageBBox = [bbox[0] + ctx.tileX, bbox[1] + ctx.tileY, bbox[2] + ctx.tileX, bbox[3] + ctx.tileY];
    properties.imageBBox = imageBBox;
  }

  let imageGeometry: Geometry | null = null;
  if (properties.imageGeometry !== undefined) {
    if (!isGeometry(properties.imageGeometry)) throw new FeatureShapeError(`features[${index}].properties.imageGeometry is not a GeoJSON geometry`);
    imageGeometry = mapPositions(properties.imageGeometry, shift);
  } else {
    const legacy = legacyImageGeometry(properties);
    if (legacy) imageGeometry = mapPositions(legacy, shift);
  }
  if (imageGeometry) properties.imageGeometry = roundGeometry(imageGeometry);
  if (!imageBBox && imageGeometry) {
    imageBBox = geometryBounds(imageGeometry);
    if (imageBBox) properties.imageBBox = imageBBox;
  }

  if (properties.featureClasses === undefined && properties.feature_types && typeof properties.feature_types === 'object') {
    properties.featureClasses = Object.entries(properties.feature_types as Record<string, unknown>).map(([iri, score]) => ({ iri, score: Number(score) }));
  }

  const feature: Feature = { type: 'Feature', geometry: isGeometry(src.geometry) ? src.geometry : null, properties };
  if (src.id !== undefined && (typeof src.id === 'string' || typeof src.id === 'number')) feature.id = src.id;
  properties.inferenceTime = new Date(ctx.inferenceTime).toISOString().replace(/\.\d{3}Z$/, 'Z');

  const model = ctx.sensorModel;
  if (model) {
    const toWorld = (p: number[]) => model.imageToWorld(p[0], p[1]);
    if (imageBBox) {
      const corners = [toWorld([imageBBox[0], imageBBox[1]]), toWorld([imageBBox[2], imageBBox[1]]), toWorld([imageBBox[2], imageBBox[3]]), toWorld([imageBBox[0], imageBBox[3]])];
      feature.bbox = [Math.min(...corners.map((c) => c[0])), Math.min(...corners.map((c) => c[1])), Math.max(...corners.map((c) => c[0])), Math.max(...corners.map((c) => c[1]))];
    }
    if (imageGeometry) feature.geometry = roundGeometry(mapPositions(imageGeometry, toWorld));
    // A model that gives only a box still gets a ground footprint: the box's outline.
    else if (imageBBox) feature.geometry = roundGeometry(mapPositions(boxPolygon(imageBBox), toWorld));
    const centre = (imageGeometry && centroid(imageGeometry)) ?? (imageBBox ? [(imageBBox[0] + imageBBox[2]) / 2, (imageBBox[1] + imageBBox[3]) / 2] : null);
    if (centre) {
      const [lon, lat] = model.imageToWorld(centre[0], centre[1]);
      properties.center_longitude = lon;
      properties.center_latitude = lat;
    }
  } else if (feature.geometry) {
    feature.geometry = roundGeometry(feature.geometry);
  }
  return feature;
}

function boxPolygon([x0, y0, x1, y1]: Bounds): Geometry {
  return { type: 'Polygon', coordinates: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] };
}

function isBox(v: unknown): v is number[] {
  return Array.isArray(v) && v.length >= 4 && v.slice(0, 4).every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** OSML's deprecated image-coordinate properties, in its search order. */
function legacyImageGeometry(props: Record<string, unknown>): Geometry | null {
  const ring = props.geom_imcoords;
  if (Array.isArray(ring) && ring.length > 0) return { type: 'Polygon', coordinates: [ring as number[][]] };
  const detection = props.detection as { pixelCoordinates?: unknown; type?: unknown } | undefined;
  if (detection && Array.isArray(detection.pixelCoordinates)) {
    const type = typeof detection.type === 'string' ? detection.type : 'Polygon';
    const candidate = { type, coordinates: type === 'Polygon' ? [detection.pixelCoordinates] : detection.pixelCoordinates };
    if (isGeometry(candidate)) return candidate;
  }
  const box = props.bounds_imcoords;
  if (isBox(box)) {
    // shapely.geometry.box(minx, miny, maxx, maxy) ring order, counter-clockwise from (maxx, miny).
    const [x1, y1, x2, y2] = box;
    return { type: 'Polygon', coordinates: [[[x2, y1], [x2, y2], [x1, y2], [x1, y1], [x2, y1]]] };
  }
  return null;
}

/** Image-space bounds used for de-duplication: imageGeometry first, then imageBBox (OSML §4.4 step 6). */
export function imageBoundsOf(feature: Feature): Bounds | null {
  const g = feature.properties.imageGeometry;
  if (isGeometry(g)) {
    const b = geometryBounds(g);
    if (b) return b;
  }
  const box = feature.properties.imageBBox;
  return isBox(box) ? [box[0], box[1], box[2], box[3]] : null;
}

/** The highest-score class of a feature (OSML's label and score for NMS); "" and -1 when it has none. */
export function topClass(feature: Feature): { label: string; score: number } {
  const classes = feature.properties.featureClasses;
  let label = '', score = -1;
  if (Array.isArray(classes)) {
    for (const c of classes as { iri?: unknown; score?: unknown }[]) {
      const s = typeof c?.score === 'number' ? c.score : Number(c?.score);
      if (Number.isFinite(s) && s > score) {
        score = s;
        label = String(c.iri ?? '');
      }
    }
  }
  return { label, score };
}

export { roundHalfEven };
