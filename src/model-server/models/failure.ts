/**
 * OSML "failure" test model: the tile's mean colour picks a failure mode, so integration tests can provoke each
 * one with a solid-colour image.
 *   red    -> 500 "Unable to process request."
 *   green  -> 200 with malformed JSON
 *   purple -> 200 with a FeatureCollection whose list is under "invalid_key" (no "features")
 *   blue   -> 408 "Request timeout" after `failureTimeoutMs` (OSML: 5 s)
 *   other  -> 200 with one `test_object` box at [100, 100, 200, 200]
 * Unlike centerpoint/flood, OSML answers an unreadable payload with 500 "Unable to process request: <error>".
 */
import type { Rng } from '../random.js';
import { detectionToFeature } from './feature.js';
import {
  jsonResponse,
  textResponse,
  type ModelParams,
  type ModelResponse,
  type TestModel,
  type TileInfo,
} from './model.js';

export type Rgb = [number, number, number];

export const MALFORMED_JSON_BODY = '{"type": "FeatureCollection", "features": [invalid}';

/**
 * OSML averages every band (numpy, bands x rows x cols) and truncates to int: 3+ bands give (R, G, B) from the
 * first three, 2 bands give grey from the first, and a single band (a 2-D array in numpy) gives black.
 * `bandMeans` holds the means of the first `failureBandMeansNeeded(bandCount)` bands.
 */
export function dominantColor(bandCount: number, bandMeans: readonly number[]): Rgb {
  const mean = (band: number) => Math.trunc(bandMeans[band] ?? 0);
  if (bandCount >= 3) return [mean(0), mean(1), mean(2)];
  if (bandCount === 2) return [mean(0), mean(0), mean(0)];
  return [0, 0, 0];
}

/** Only the band means `dominantColor` looks at: none for a single band, the first of two, the first three. */
export function failureBandMeansNeeded(bandCount: number): number {
  if (bandCount >= 3) return 3;
  return bandCount === 2 ? 1 : 0;
}

export function failureResponse(
  tile: TileInfo,
  params: Pick<ModelParams, 'failureTimeoutMs'>,
  rng: Rng,
): ModelResponse {
  const [r, g, b] = dominantColor(tile.bandCount, tile.bandMeans ?? []);
  if (r > 200 && g < 50 && b < 50) return textResponse(500, 'Unable to process request.');
  if (g > 200 && r < 50 && b < 50) return { status: 200, body: MALFORMED_JSON_BODY, contentType: 'application/json' };
  if (r > 200 && b > 200 && g < 50) {
    return jsonResponse(200, {
      type: 'FeatureCollection',
      invalid_key: [
        {
          type: 'Feature',
          geometry: null,
          properties: {
            imageGeometry: { type: 'Point', coordinates: [0.0, 0.0] },
            imageBBox: [100, 100, 200, 200],
            featureClasses: [{ iri: 'test-type', score: 0.94 }],
            modelMetadata: { modelName: 'failure', ontologyName: 'test', ontologyVersion: '1.0.0' },
          },
        },
      ],
    });
  }
  if (b > 200 && r < 50 && g < 50) return { ...textResponse(408, 'Request timeout'), delayMs: params.failureTimeoutMs };
  const feature = detectionToFeature({ bbox: [100, 100, 200, 200], iri: 'test_object', modelName: 'failure' }, rng);
  return jsonResponse(200, { type: 'FeatureCollection', features: [feature] });
}

export const failureModel: TestModel = {
  name: 'failure',
  simulatesLatency: false,
  bandMeansNeeded: failureBandMeansNeeded,
  respond: failureResponse,
  respondToUnreadableTile: (error) => textResponse(500, `Unable to process request: ${error.message}`),
  respondToError: (error) => textResponse(500, `Unable to process request: ${error.message}`),
};
