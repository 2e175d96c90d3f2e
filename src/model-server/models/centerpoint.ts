/**
 * OSML "centerpoint" test model: one detection centred on the tile, 2 x BBOX_PERCENTAGE of its size, and with
 * segmentation enabled OSML's 8-vertex hexagon ring (which sits in the lower-right quadrant of the box; expected
 * integration results encode it, so it is reproduced exactly, including Python's rounding).
 */
import { pythonRound } from '../../util/python-round.js';
import type { Rng } from '../random.js';
import { detectionToFeature, type Position, type TestModelFeatureCollection } from './feature.js';
import {
  PROCESSING_ERROR_RESPONSE,
  UNPARSABLE_IMAGE_RESPONSE,
  jsonResponse,
  type ModelParams,
  type TestModel,
} from './model.js';

const HEXAGON_SIDES = 6;

/** [minx, miny, maxx, maxy] = centre -/+ (W, H) * percentage. */
export function centerBBox(width: number, height: number, bboxPercentage: number): [number, number, number, number] {
  const centerX = width / 2;
  const centerY = height / 2;
  const sizeX = width * bboxPercentage;
  const sizeY = height * bboxPercentage;
  return [centerX - sizeX, centerY - sizeY, centerX + sizeX, centerY + sizeY];
}

/**
 * OSML builds the ring from matplotlib's unit regular polygon (7 vertices, the last closing it, starting at the
 * top), maps it to [0, 1], scales by (W, H) * percentage, offsets by the tile centre, rounds to 4 decimals and
 * appends the first vertex once more. The float operations are done in the same order as numpy does them.
 */
export function centerPolygon(width: number, height: number, bboxPercentage: number): Position[] {
  const scaleX = bboxPercentage * width;
  const scaleY = bboxPercentage * height;
  const ring: Position[] = [];
  for (let k = 0; k <= HEXAGON_SIDES; k += 1) {
    const theta = ((2 * Math.PI) / HEXAGON_SIDES) * k + Math.PI / 2.0;
    const unitX = (Math.cos(theta) + 1) / 2;
    const unitY = (Math.sin(theta) + 1) / 2;
    ring.push([pythonRound(unitX * scaleX + width / 2, 4), pythonRound(unitY * scaleY + height / 2, 4)]);
  }
  ring.push([...ring[0]!]);
  return ring;
}

export function centerpointDetections(
  width: number,
  height: number,
  params: Pick<ModelParams, 'bboxPercentage' | 'enableSegmentation'>,
  rng: Rng,
): TestModelFeatureCollection {
  const mask = params.enableSegmentation ? centerPolygon(width, height, params.bboxPercentage) : undefined;
  const feature = detectionToFeature(
    { bbox: centerBBox(width, height, params.bboxPercentage), mask, modelName: 'centerpoint' },
    rng,
  );
  return { type: 'FeatureCollection', features: [feature] };
}

export const centerpointModel: TestModel = {
  name: 'centerpoint',
  simulatesLatency: true,
  bandMeansNeeded: () => 0,
  respond: (tile, params, rng) => jsonResponse(200, centerpointDetections(tile.width, tile.height, params, rng)),
  respondToUnreadableTile: () => UNPARSABLE_IMAGE_RESPONSE,
  respondToError: () => PROCESSING_ERROR_RESPONSE,
};
