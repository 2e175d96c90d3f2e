/**
 * Opens a posted tile (PNG, JPEG, GeoTIFF, NITF: anything GDAL reads) from memory and describes it for a test
 * model. Opening reads only the header, so the raster size is cheap; band means are computed only when asked.
 * gdal-async is main-thread only, which holds in this server. The async calls run on libuv's pool, so
 * concurrent requests do not block the event loop.
 */
import { randomUUID } from 'node:crypto';
import gdal from 'gdal-async';
import type { TileInfo } from './models/model.js';

/** Rows per read when averaging, bounding memory for large tiles (Float64 buffer of rows x width). */
const MAX_PIXELS_PER_READ = 1 << 20;

/** The payload is not an image GDAL can open. */
export class UnreadableTileError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'UnreadableTileError';
  }
}

export async function decodeTile(
  bytes: Buffer,
  options: { bandMeansNeeded: (bandCount: number) => number },
): Promise<TileInfo> {
  if (bytes.length === 0) throw new UnreadableTileError(new Error('empty payload'));
  const path = `/vsimem/model-server-${randomUUID()}`;
  gdal.vsimem.set(bytes, path); // zero-copy: GDAL reads the request buffer directly
  let dataset: gdal.Dataset | undefined;
  try {
    try {
      dataset = await gdal.openAsync(path);
    } catch (error) {
      throw new UnreadableTileError(error);
    }
    const { x: width, y: height } = dataset.rasterSize;
    const bandCount = await dataset.bands.countAsync();
    const meansWanted = Math.min(bandCount, options.bandMeansNeeded(bandCount));
    if (meansWanted === 0) return { width, height, bandCount };
    const bandMeans: number[] = [];
    for (let band = 1; band <= meansWanted; band += 1) {
      bandMeans.push(await bandMean(await dataset.bands.getAsync(band), width, height));
    }
    return { width, height, bandCount, bandMeans };
  } finally {
    dataset?.close(); // before release: the vsimem file must not be open when it is deleted
    gdal.vsimem.release(path);
  }
}

async function bandMean(band: gdal.RasterBand, width: number, height: number): Promise<number> {
  const rowsPerRead = Math.max(1, Math.floor(MAX_PIXELS_PER_READ / Math.max(1, width)));
  const buffer = new Float64Array(width * Math.min(rowsPerRead, height));
  let sum = 0;
  for (let row = 0; row < height; row += rowsPerRead) {
    const rows = Math.min(rowsPerRead, height - row);
    const chunk = rows * width === buffer.length ? buffer : buffer.subarray(0, rows * width);
    await band.pixels.readAsync(0, row, width, rows, chunk);
    for (let i = 0; i < chunk.length; i += 1) sum += chunk[i]!;
  }
  return sum / (width * height);
}
