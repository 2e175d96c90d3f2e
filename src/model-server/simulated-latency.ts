/**
 * OSML's latency simulation for centerpoint and flood: CustomAttributes `mock_latency_mean` (ms) and optional
 * `mock_latency_std` (default 10 % of the mean) give a sleep of max(0, gauss(mean, std)) ms. Anything
 * unparsable means no sleep, as in OSML.
 */
import type { CustomAttributes } from './custom-attributes.js';
import { gaussian, type Rng } from './random.js';

export function simulatedLatencyMs(attributes: CustomAttributes, rng: Rng): number {
  const meanText = attributes.mock_latency_mean;
  if (meanText === undefined) return 0;
  const mean = parseFloatStrict(meanText);
  const stdText = attributes.mock_latency_std;
  const std = stdText === undefined ? (mean ?? NaN) * 0.1 : parseFloatStrict(stdText);
  if (mean === undefined || std === undefined || Number.isNaN(std)) return 0;
  return Math.max(0, gaussian(rng, mean, std));
}

function parseFloatStrict(text: string): number | undefined {
  if (text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}
