/**
 * Tile formats and compressions (OSML's imageProcessorTileFormat / imageProcessorTileCompression) and the one
 * function that turns converted, pixel-interleaved samples into the bytes sent to the model. Runs in workers.
 */
import { encodeJpeg, encodePng } from '../pixels/native.js';
import { encodeGeoTiff } from './gtiff.js';
import { encodeNitf } from './nitf.js';

export const TILE_FORMATS = ['NITF', 'JPEG', 'PNG', 'GTIFF'] as const;
export type TileFormat = (typeof TILE_FORMATS)[number];
export const TILE_COMPRESSIONS = ['NONE', 'JPEG', 'J2K', 'LZW', 'DEFLATE'] as const;
export type TileCompression = (typeof TILE_COMPRESSIONS)[number];

export interface TileEncoding {
  format: TileFormat;
  compression: TileCompression;
  /** JPEG quality 1..100 (JPEG tiles and JPEG-compressed containers). */
  quality: number;
  /** Largest encoded tile the model accepts, in bytes (SageMaker real-time: 6 MB); 0 = no limit. */
  maxPayloadBytes?: number;
}

/** SageMaker real-time endpoints accept at most 6 MB per request. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export class PayloadTooLargeError extends Error {}

/**
 * Fails a tile before it is sent when its encoding exceeds the model's payload limit, saying what would fit: only
 * options that exist for the tile's format and samples (SUPPORTED_COMPRESSIONS; JPEG compression needs 8-bit samples).
 */
export function checkPayload(bytes: number, encoding: TileEncoding, tileLabel: string, pixels: number, sampleType?: EncodeInput['sampleType']): void {
  const limit = encoding.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (limit <= 0 || bytes <= limit) return;
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(2)} MB`;
  const side = Math.floor(Math.sqrt(pixels * (limit / bytes)));
  const hints = [`a tile size of about ${side} or less`];
  if (encoding.format === 'JPEG' || encoding.compression === 'JPEG') {
    hints.push(`a lower --quality (now ${encoding.quality})`);
  } else {
    hints.push('JPEG tiles (--tile-format JPEG)');
    // PNG is always deflated: its NONE and DEFLATE are the same, and it has no other compression.
    const others = encoding.format === 'PNG' ? [] : SUPPORTED_COMPRESSIONS[encoding.format].filter((c) => c !== 'NONE' && c !== encoding.compression && (c !== 'JPEG' || sampleType === undefined || sampleType === 'Byte'));
    if (others.length) hints.push(`--compression ${others.join(' or ')}`);
  }
  throw new PayloadTooLargeError(`tile ${tileLabel}: encoded ${encoding.format}${encoding.compression !== 'NONE' ? `/${encoding.compression}` : ''} tile is ${mb(bytes)}, over the model's ${mb(limit)} payload limit; would fit: ${hints.join(', ')} (or raise --max-payload-mb)`);
}

/**
 * Which compressions each format can carry today; the rest fail before any work with a message naming them (the
 * request schema checks the pair, checkTileEncoding again with the image's sample type).
 */
export const SUPPORTED_COMPRESSIONS: Record<TileFormat, readonly TileCompression[]> = {
  PNG: ['NONE', 'DEFLATE'],
  JPEG: ['NONE', 'JPEG'],
  GTIFF: ['NONE', 'LZW', 'DEFLATE', 'JPEG'],
  // J2K is IC=C8 (lossless JPEG 2000, openjpeg); LZW/DEFLATE have no NITF compression code.
  NITF: ['NONE', 'JPEG', 'J2K'],
};

/** Throws a clear error when a format/compression pair is not built (yet). */
export function checkTileEncoding(encoding: TileEncoding, sampleType: 'Byte' | 'UInt16' | 'other'): void {
  const { format, compression } = encoding;
  if (!TILE_FORMATS.includes(format)) throw new Error(`unknown tile format ${JSON.stringify(format)} (expected one of ${TILE_FORMATS.join(', ')})`);
  if (!TILE_COMPRESSIONS.includes(compression)) throw new Error(`unknown tile compression ${JSON.stringify(compression)} (expected one of ${TILE_COMPRESSIONS.join(', ')})`);
  if (!SUPPORTED_COMPRESSIONS[format].includes(compression)) {
    throw new Error(`tile format ${format} with compression ${compression} is not supported yet (supported for ${format}: ${SUPPORTED_COMPRESSIONS[format].join(', ')})`);
  }
  if (!Number.isInteger(encoding.quality) || encoding.quality < 1 || encoding.quality > 100) throw new Error(`JPEG quality must be an integer 1..100, got ${encoding.quality}`);
  if (format === 'JPEG' && sampleType !== 'Byte') throw new Error('JPEG tiles need 8-bit samples: choose a range adjustment or another tile format');
  if (format === 'PNG' && sampleType === 'other') throw new Error('PNG tiles carry 8- or 16-bit samples only: choose a range adjustment or another tile format');
}

export interface EncodeInput {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: number;
  sampleType: 'Byte' | 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'Float32' | 'Float64';
  /** Tile geotransform (GeoTIFF) and WGS84 corners UL, UR, LR, LL (NITF IGEOLO) when the image is georeferenced. */
  geoTransform?: number[];
  epsg?: number;
  corners?: [[number, number], [number, number], [number, number], [number, number]];
  nitfFields?: { icat?: string; ftitle?: string; idatim?: string };
}

export function encodeTile(input: EncodeInput, encoding: TileEncoding): Uint8Array {
  const { pixels, width, height, channels, sampleType } = input;
  switch (encoding.format) {
    case 'JPEG':
      if (channels !== 1 && channels !== 3) throw new Error(`JPEG tiles need 1 or 3 bands, got ${channels}`);
      return encodeJpeg(pixels, width, height, channels, encoding.quality);
    case 'PNG':
      if (channels < 1 || channels > 4) throw new Error(`PNG tiles need 1 to 4 bands, got ${channels}`);
      return encodePng(pixels, width, height, channels as 1 | 2 | 3 | 4, sampleType === 'Byte' ? 8 : 16);
    case 'GTIFF':
      return encodeGeoTiff(pixels, {
        width, height, bands: channels, sampleType, interleave: 'pixel',
        compression: encoding.compression, quality: encoding.quality,
        ...(input.geoTransform ? { georef: { geoTransform: input.geoTransform, ...(input.epsg ? { epsg: input.epsg } : {}) } } : {}),
      });
    case 'NITF':
      return encodeNitf(pixels, {
        width, height, bands: channels, sampleType,
        compression: encoding.compression, quality: encoding.quality,
        ...(input.nitfFields ?? {}),
        ...(input.corners ? { corners: input.corners } : {}),
      });
  }
}
