/**
 * OSML "flood" test model: `floodVolume` random boxes of 2 x BBOX_PERCENTAGE of the tile with uniform scores, to
 * load-test the pipeline.
 *
 * Deliberate fix: OSML swaps width and height when placing boxes, so on non-square tiles boxes can fall outside
 * the tile; here x follows the width and y the height (identical on square tiles, and positions are random anyway).
 * Kept from OSML: a tile too small to hold a box (empty randrange) is an error (HTTP 500), and the segmentation
 * mask is OSML's malformed 5-point ring mixing x and y (nothing should rely on it).
 */
import { randomInt, type Rng } from '../random.js';
import { detectionToFeature, type Position, type TestModelFeatureCollection } from './feature.js';
import {
  PROCESSING_ERROR_RESPONSE,
  UNPARSABLE_IMAGE_RESPONSE,
  jsonResponse,
  type ModelParams,
  type TestModel,
} from './model.js';

export function floodDetections(
  width: number,
  height: number,
  params: Pick<ModelParams, 'bboxPercentage' | 'enableSegmentation' | 'floodVolume'>,
  rng: Rng,
): TestModelFeatureCollection {
  const halfX = Math.ceil(width * params.bboxPercentage);
  const halfY = Math.ceil(height * params.bboxPercentage);
  const features = [];
  for (let i = 0; i < params.floodVolume; i += 1) {
    const centerX = randomInt(rng, halfX, width - halfX);
    const centerY = randomInt(rng, halfY, height - halfY);
    const mask: Position[] | undefined = params.enableSegmentation
      ? [
          [centerX - halfX, centerY + halfY],
          [centerY - halfX, centerX + halfX],
          [centerX + halfX, centerY + halfY],
          [centerY + halfY, centerX + halfX],
          [centerX - halfX, centerY + halfY],
        ]
      : undefined;
    features.push(
      detectionToFeature(
        {
          bbox: [centerX - halfX, centerY - halfY, centerX + halfX, centerY + halfY],
          mask,
          score: rng(),
          modelName: 'flood',
        },
        rng,
      ),
    );
  }
  return { type: 'FeatureCollection', features };
}

export const floodModel: TestModel = {
  name: 'flood',
  simulatesLatency: true,
  bandMeansNeeded: () => 0,
  respond: (tile, params, rng) => jsonResponse(200, floodDetections(tile.width, tile.height, params, rng)),
  respondToUnreadableTile: () => UNPARSABLE_IMAGE_RESPONSE,
  respondToError: () => PROCESSING_ERROR_RESPONSE,
};
