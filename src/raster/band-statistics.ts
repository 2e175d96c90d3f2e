import { typedView, bytesPerSample } from '../pixels/data-type.js';
import { histogramOf, type Histogram } from '../pixels/range-adjustment.js';
import type { RasterInfo } from './raster-source.js';
import { openRaster } from './s3-read-credentials.js';

/** Longest side of the decimated read used for statistics: enough samples for stable 2 %/98 % points. */
const SAMPLE_SIDE = 1024;

/**
 * Per-band histograms computed once per image, so every tile of the image is stretched the same way. Large images
 * are read decimated (GDAL uses overviews when the file has them), never in full.
 */
export async function bandHistograms(info: RasterInfo, bands: number[]): Promise<Histogram[]> {
  const ds = (await openRaster(info.gdalPath, info.readCredentials, info.drivers)).dataset;
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

/**
 * The complex bands of a complex SAR image stored as I/Q plane pairs (SICD: NITF, IREP NODISPLY, ICAT SAR, band
 * ISUBCAT I then Q), as the complex band numbers k whose planes 2k and 2k+1 hold I and Q; null when the image is
 * not I/Q. Every pair must be marked I and Q (in either order, the amplitude does not care); a SICD whose band
 * subcategories are missing still counts when it is ICAT SAR with IREP NODISPLY and exactly 2 bands. Amplitude and
 * phase pairs (SICD AMP8I_PHS8I, ISUBCAT M/P) are not I/Q and are left alone.
 */
export async function complexBandPairs(info: RasterInfo): Promise<number[] | null> {
  if (info.format !== 'NITF' || info.bandCount < 2 || info.bandCount % 2 !== 0) return null;
  const ds = (await openRaster(info.gdalPath, info.readCredentials, info.drivers)).dataset;
  try {
    const subcategory = (b: number) => String(ds.bands.get(b + 1).getMetadata().NITF_ISUBCAT ?? '').trim().toUpperCase();
    const pairs = Array.from({ length: info.bandCount / 2 }, (_, k) => [subcategory(2 * k), subcategory(2 * k + 1)].sort().join(''));
    if (pairs.every((p) => p === 'IQ')) return pairs.map((_, k) => k);
    const unmarked = pairs.every((p) => p === '');
    const sar = (info.metadata.NITF_ICAT ?? '').trim() === 'SAR' && (info.metadata.NITF_IREP ?? '').trim() === 'NODISPLY';
    return unmarked && sar && info.bandCount === 2 ? [0] : null;
  } finally {
    ds.close();
  }
}

/**
 * Histograms of the amplitude sqrt(I² + Q²) of complex bands (`complexBands`: k reads planes 2k and 2k+1), once per
 * image from the same decimated read as `bandHistograms` (nearest-neighbour decimation, so I and Q of one sample
 * always come from the same pixel). Amplitudes are real numbers: 4096 buckets between their minimum and maximum.
 */
export async function amplitudeHistograms(info: RasterInfo, complexBands: number[]): Promise<Histogram[]> {
  const ds = (await openRaster(info.gdalPath, info.readCredentials, info.drivers)).dataset;
  try {
    const scale = Math.min(1, SAMPLE_SIDE / Math.max(info.width, info.height));
    const bw = Math.max(1, Math.round(info.width * scale));
    const bh = Math.max(1, Math.round(info.height * scale));
    const read = async (plane: number) => {
      const view = typedView(info.dataType, new ArrayBuffer(bw * bh * bytesPerSample(info.dataType)), 0, bw * bh);
      await ds.bands.get(plane + 1).pixels.readAsync(0, 0, info.width, info.height, view, { buffer_width: bw, buffer_height: bh });
      return view;
    };
    const out: Histogram[] = [];
    for (const k of complexBands) {
      const i = await read(2 * k);
      const q = await read(2 * k + 1);
      const amplitude = new Float64Array(bw * bh);
      for (let j = 0; j < amplitude.length; j++) amplitude[j] = Math.sqrt(i[j] * i[j] + q[j] * q[j]);
      out.push(histogramOf(amplitude, false));
    }
    return out;
  } finally {
    ds.close();
  }
}
