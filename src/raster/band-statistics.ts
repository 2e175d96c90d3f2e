import gdal from 'gdal-async';
import { typedView, bytesPerSample } from '../pixels/data-type.js';
import { histogramOf, type Histogram } from '../pixels/range-adjustment.js';
import type { RasterInfo } from './raster-source.js';

/** Longest side of the decimated read used for statistics: enough samples for stable 2 %/98 % points. */
const SAMPLE_SIDE = 1024;

/**
 * Per-band histograms computed once per image, so every tile of the image is stretched the same way. Large images
 * are read decimated (GDAL uses overviews when the file has them), never in full.
 */
export async function bandHistograms(info: RasterInfo, bands: number[]): Promise<Histogram[]> {
  const ds = await gdal.openAsync(info.gdalPath);
  try {
    const scale = Math.min(1, SAMPLE_SIDE / Math.max(info.width, info.height));
    const bw = Math.max(1, Math.round(info.width * scale));
    const bh = Math.max(1, Math.round(info.height * scale));
    const integer = !info.dataType.startsWith('Float');
    const out: Histogram[] = [];
    for (const b of bands) {
      const band = ds.bands.get(b + 1);
      const view = typedView(info.dataType, new ArrayBuffer(bw * bh * bytesPerSample(info.dataType)), 0, bw * bh);
      await band.pixels.readAsync(0, 0, info.width, info.height, view, { buffer_width: bw, buffer_height: bh });
      out.push(histogramOf(view, integer, band.noDataValue));
    }
    return out;
  } finally {
    ds.close();
  }
}
