// The grid primitive every tiling strategy is built on (OSML `generate_crops`, reference §3.3).
import type { Size, Window } from './window.js';

/**
 * Cut `bounds` into chips of `chip` size that overlap by `overlap`, starting at the top-left corner, row-major.
 * Chips are clipped at the right/bottom edge of `bounds`. With `fullOnly` only unclipped chips are kept; otherwise a
 * clipped chip is kept while it is wider and taller than the overlap (a thinner sliver is already covered by its
 * neighbour).
 */
export function crops(bounds: Window, chip: Size, overlap: Size, fullOnly = false): Window[] {
  if (!(overlap.width < chip.width)) {
    throw new RangeError(`chip overlap ${overlap.width} must be smaller than chip size ${chip.width} (width)`);
  }
  if (!(overlap.height < chip.height)) {
    throw new RangeError(`chip overlap ${overlap.height} must be smaller than chip size ${chip.height} (height)`);
  }
  const strideX = chip.width - overlap.width;
  const strideY = chip.height - overlap.height;
  const countX = Math.ceil(bounds.width / strideX);
  const countY = Math.ceil(bounds.height / strideY);
  const right = bounds.x + bounds.width;
  const bottom = bounds.y + bounds.height;

  const out: Window[] = [];
  for (let i = 0; i < countY; i++) {
    const y = bounds.y + i * strideY;
    const height = Math.min(chip.height, bottom - y);
    for (let j = 0; j < countX; j++) {
      const x = bounds.x + j * strideX;
      const width = Math.min(chip.width, right - x);
      const keep = fullOnly
        ? width === chip.width && height === chip.height
        : width > overlap.width && height > overlap.height;
      if (keep) out.push({ x, y, width, height });
    }
  }
  return out;
}
