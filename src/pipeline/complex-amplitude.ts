/**
 * Complex SAR input (SICD: I/Q plane pairs of Int16 or Float32) into tiles that cannot carry complex samples: each
 * tile band is the amplitude sqrt(I² + Q²) of one complex band, stretched like any other band (DRA unless the request
 * says otherwise) with ranges computed once per image from the amplitude histogram. NITF and GTIFF tiles without JPEG
 * compression carry the I/Q planes unchanged (prepareImage's usual path), as OSML sends them.
 */
import { checkTileEncoding, type TileEncoding } from '../encoding/tile-encoding.js';
import { selectBands } from '../pixels/band-selection.js';
import { draRange, minMaxRange, type RangeAdjustment } from '../pixels/range-adjustment.js';
import { amplitudeHistograms, complexBandPairs } from '../raster/band-statistics.js';
import type { RasterInfo } from '../raster/raster-source.js';
import type { PixelConversion } from './tile-task.js';

export interface AmplitudePlan {
  conversion: PixelConversion;
  rangeAdjustment: RangeAdjustment;
  /** States the conversion, for the run's warnings (and so the output's metadata). */
  warning: string;
}

/** Whether a tile format/compression carries I/Q samples as they are (integer or float, two planes per band). */
export function carriesComplexSamples(encoding: Pick<TileEncoding, 'format' | 'compression'>): boolean {
  return (encoding.format === 'NITF' || encoding.format === 'GTIFF') && encoding.compression !== 'JPEG';
}

/**
 * The amplitude conversion for a complex I/Q image going into tiles that cannot carry it; null when the image is not
 * I/Q or the tiles carry I/Q as they are; `inputError` for a request that cannot be honoured (nothing was read yet).
 * Requested bands (1-based) number complex bands, i.e. I/Q pairs.
 */
export async function planAmplitude(
  job: { encoding: TileEncoding; bands?: number[]; rangeAdjustment?: RangeAdjustment },
  info: RasterInfo,
): Promise<AmplitudePlan | { inputError: string } | null> {
  if (carriesComplexSamples(job.encoding)) return null;
  const complexBands = await complexBandPairs(info);
  if (complexBands === null) return null;

  const { format, compression } = job.encoding;
  let bands: number[];
  try {
    bands = selectBands({
      ...(job.bands?.length ? { requested: job.bands } : {}),
      bandCount: complexBands.length,
      colorInterpretation: [],
      format,
      compression,
    });
  } catch (err) {
    return { inputError: `${info.location}: ${(err as Error).message} (a complex I/Q image: bands are numbered by I/Q pair)` };
  }
  const rangeAdjustment = job.rangeAdjustment ?? 'DRA';
  // As for other non-8-bit sources: PNG keeps 16 bits when a range adjustment was asked for explicitly.
  const outputType = format === 'PNG' && job.rangeAdjustment !== undefined ? 'UInt16' : 'Byte';
  try {
    checkTileEncoding(job.encoding, outputType);
  } catch (err) {
    return { inputError: (err as Error).message };
  }

  const conversion: PixelConversion = { bandCount: info.bandCount, dataType: info.dataType, bands, outputType, complex: 'amplitude' };
  if (rangeAdjustment !== 'NONE') {
    const histograms = await amplitudeHistograms(info, bands);
    conversion.ranges = histograms.map((h) => (rangeAdjustment === 'MINMAX' ? minMaxRange(h) : draRange(h)));
  }
  const tiles = `${format}${compression === 'JPEG' && format !== 'JPEG' ? '/JPEG' : ''}`;
  const stretch = rangeAdjustment === 'NONE' ? 'rounded and clamped' : `stretched with ${rangeAdjustment}`;
  const warning =
    `${info.location}: complex SAR image (${info.bandCount / 2} I/Q pair(s) of ${info.dataType}): ${tiles} tiles cannot carry complex ` +
    `samples, so each tile band is the amplitude sqrt(I² + Q²) ${stretch} to ${outputType === 'Byte' ? 8 : 16} bits`;
  return { conversion, rangeAdjustment, warning };
}
