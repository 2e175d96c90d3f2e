import type { TileFormat } from '../encoding/tile-encoding.js';

/**
 * Which source bands go into a tile, in order (0-based). An explicit choice (1-based, as GDAL users write `-b 3 -b 2
 * -b 1`) is validated; otherwise NITF IREPBAND / GDAL colour interpretation picks R, G, B when the image marks them,
 * formats that carry any band count (NITF, GTIFF) get every band as OSML sends them, and the rest get the first
 * band (1–2 bands) or the first three (3 or more).
 */
export function selectBands(options: { requested?: number[]; bandCount: number; colorInterpretation: string[]; format: TileFormat; compression?: string }): number[] {
  const { requested, bandCount, colorInterpretation } = options;
  // A JPEG-compressed NITF or GeoTIFF carries what a JPEG carries: 1 or 3 bands.
  const format: TileFormat = options.compression === 'JPEG' ? 'JPEG' : options.format;
  if (requested && requested.length) {
    requested.forEach((b, i) => {
      if (!Number.isInteger(b) || b < 1 || b > bandCount) throw new RangeError(`bands[${i}] = ${b} is not a band of this image (it has ${bandCount}; bands are numbered from 1)`);
    });
    const max = format === 'JPEG' ? 3 : format === 'PNG' ? 4 : Infinity;
    if (requested.length > max || (format === 'JPEG' && requested.length === 2)) {
      throw new RangeError(`${options.format}${options.compression === 'JPEG' && options.format !== 'JPEG' ? '/JPEG' : ''} tiles carry ${format === 'JPEG' ? '1 or 3' : '1 to 4'} bands, ${requested.length} were requested (choose with --bands)`);
    }
    return requested.map((b) => b - 1);
  }
  if (format === 'NITF' || format === 'GTIFF') return Array.from({ length: bandCount }, (_, i) => i);
  const find = (name: string) => colorInterpretation.findIndex((c) => c.toLowerCase() === name);
  const rgb = [find('red'), find('green'), find('blue')];
  if (rgb.every((i) => i >= 0)) return rgb;
  return bandCount >= 3 ? [0, 1, 2] : [0];
}
