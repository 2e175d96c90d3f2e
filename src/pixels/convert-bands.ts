import { convertTile, outputBytesPerSample, type ConvertOptions } from './native.js';

/** The native conversion handles up to 4 output bands per call (what image codecs carry). */
const NATIVE_MAX_BANDS = 4;

/**
 * convertTile for any number of output bands: multispectral images (5, 8, 16 bands) go whole into NITF and GeoTIFF
 * tiles. More than 4 bands are converted natively in groups of 4 and the groups interleaved here, sample by sample.
 */
export function convertAnyBands(source: Uint8Array, options: ConvertOptions, output?: Uint8Array): Uint8Array {
  const bands = options.bands;
  if (bands.length <= NATIVE_MAX_BANDS) return convertTile(source, options, output);
  const sampleBytes = outputBytesPerSample(options);
  const pixels = options.width * options.height;
  const pixelBytes = bands.length * sampleBytes;
  const out = output && output.byteLength >= pixels * pixelBytes ? output.subarray(0, pixels * pixelBytes) : new Uint8Array(pixels * pixelBytes);
  for (let first = 0; first < bands.length; first += NATIVE_MAX_BANDS) {
    const group = bands.slice(first, first + NATIVE_MAX_BANDS);
    const part = convertTile(source, { ...options, bands: group, ...(options.ranges ? { ranges: options.ranges.slice(first, first + NATIVE_MAX_BANDS) } : {}) });
    const groupBytes = group.length * sampleBytes;
    for (let p = 0, src = 0, dst = first * sampleBytes; p < pixels; p++, src += groupBytes, dst += pixelBytes) {
      for (let k = 0; k < groupBytes; k++) out[dst + k] = part[src + k];
    }
  }
  return out;
}
