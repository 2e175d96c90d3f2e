// OSML's alternative VariableTileTilingStrategy (reference §3.6): fixed overlap, no adjustment; tiles and regions at
// the right/bottom edge are clipped (partial), so tiles vary in size.
import { crops } from './crops.js';
import type { Size, Window } from './window.js';

export function computeRegions(bounds: Window, regionSize: Size, _tileSize: Size, overlap: Size): Window[] {
  return crops(bounds, regionSize, overlap, false);
}

export function computeTiles(region: Window, tileSize: Size, overlap: Size): Window[] {
  return crops(region, tileSize, overlap, false);
}
