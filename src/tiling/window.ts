// Pixel windows (rasterio style): a rectangle of whole pixels in image space.
// OSML writes the same thing as ImageRegion ((row, col), (width, height)) — corner row first, size width first —
// which is easy to get wrong, so the engine uses named fields and converts only at the OSML boundary.

/** A rectangle of pixels: x = column offset, y = row offset. */
export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A width/height pair in pixels (tile size, overlap, region size). */
export interface Size {
  width: number;
  height: number;
}

/** OSML's ImageRegion tuple: ((row, col), (width, height)). */
export type ImageRegion = readonly [readonly [row: number, col: number], readonly [width: number, height: number]];

export function windowFromImageRegion(region: ImageRegion): Window {
  const [[row, col], [width, height]] = region;
  return { x: col, y: row, width, height };
}

export function windowToImageRegion(window: Window): [[number, number], [number, number]] {
  return [
    [window.y, window.x],
    [window.width, window.height],
  ];
}

/** Python tuple repr of the region, as used in OSML region ids: "(row, col)(width, height)". */
export function regionTupleRepr(window: Window): string {
  return `(${window.y}, ${window.x})(${window.width}, ${window.height})`;
}

/** The overlap of two windows, or null when they share no pixel. */
export function intersect(a: Window, b: Window): Window | null {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width);
  const bottom = Math.min(a.y + a.height, b.y + b.height);
  if (right <= x || bottom <= y) return null;
  return { x, y, width: right - x, height: bottom - y };
}

/** True when every pixel of `inner` lies inside `outer`. */
export function contains(outer: Window, inner: Window): boolean {
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  );
}

export function windowsEqual(a: Window, b: Window): boolean {
  return a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height;
}
