import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';

import gdal from 'gdal-async';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import {
  BYTES_PER_SAMPLE,
  convertTile,
  deflateZlib,
  encodeJ2k,
  encodeJpeg,
  encodePng,
  nativeInfo,
  type ConvertOptions,
  type DataType,
  type PngFilter,
} from '../src/pixels/native.js';

/** Band-sequential bytes from per-band sample arrays of one type. */
function planes(dataType: DataType, bands: number[][]): Uint8Array {
  const n = bands[0].length;
  const bytes = BYTES_PER_SAMPLE[dataType];
  const out = new Uint8Array(bands.length * n * bytes);
  const view = new DataView(out.buffer);
  bands.forEach((values, b) =>
    values.forEach((v, i) => {
      const at = (b * n + i) * bytes;
      switch (dataType) {
        case 'Byte': view.setUint8(at, v); break;
        case 'UInt16': view.setUint16(at, v, true); break;
        case 'Int16': view.setInt16(at, v, true); break;
        case 'UInt32': view.setUint32(at, v, true); break;
        case 'Int32': view.setInt32(at, v, true); break;
        case 'Float32': view.setFloat32(at, v, true); break;
        case 'Float64': view.setFloat64(at, v, true); break;
      }
    }),
  );
  return out;
}

const u16 = (b: Uint8Array) => Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2));

function expectError(fn: () => unknown, name: 'TypeError' | 'RangeError', code: string, message: string) {
  try {
    fn();
  } catch (e) {
    expect((e as Error).name).toBe(name);
    expect((e as { code?: string }).code).toBe(code);
    expect((e as Error).message).toBe(message);
    return;
  }
  throw new Error(`expected ${name}: ${message}`);
}

describe('convertTile: stretch', () => {
  // 12-bit values in a 16-bit container, one band, range [100, 2047].
  // Hand computation: (1000-100)*255/1947 = 117.87 -> 118; (1073-100)*255/1947 = 127.43 -> 127;
  // (1500-100)*255/1947 = 183.36 -> 183; <= 100 -> 0; >= 2047 -> 255.
  const values = [0, 100, 1000, 1073, 1500, 2047, 4095];
  const opts = (outputType: 'Byte' | 'UInt16'): ConvertOptions => ({
    width: values.length, height: 1, bandCount: 1, dataType: 'UInt16', bands: [0], outputType, ranges: [[100, 2047]],
  });

  it('maps 12-bit UInt16 to Byte with hand-computed values', () => {
    expect(Array.from(convertTile(planes('UInt16', [values]), opts('Byte')))).toEqual([0, 0, 118, 127, 183, 255, 255]);
  });

  it('maps 12-bit UInt16 to UInt16 (outMax 65535)', () => {
    // (1000-100)*65535/1947 = 30293.53 -> 30294; 1073 -> 32750.67 -> 32751; 1500 -> 47123.27 -> 47123
    expect(u16(convertTile(planes('UInt16', [values]), opts('UInt16')))).toEqual([0, 0, 30294, 32751, 47123, 65535, 65535]);
  });

  it('rounds exact halves up and clamps Int16 with a signed range', () => {
    // range [-100, 100]: scale 1.275; -1 -> 126.225 -> 126; 0 -> 127.5 -> 128; 1 -> 128.775 -> 129
    const src = planes('Int16', [[-32768, -100, -1, 0, 1, 100, 32767]]);
    const out = convertTile(src, { width: 7, height: 1, bandCount: 1, dataType: 'Int16', bands: [0], outputType: 'Byte', ranges: [[-100, 100]] });
    expect(Array.from(out)).toEqual([0, 0, 126, 128, 129, 255, 255]);
    // Same on the per-sample arithmetic path used for 32/64-bit sources.
    for (const dataType of ['Int32', 'Float32', 'Float64'] as const) {
      const wide = planes(dataType, [[-32768, -100, -1, 0, 1, 100, 32767]]);
      const got = convertTile(wide, { width: 7, height: 1, bandCount: 1, dataType, bands: [0], outputType: 'Byte', ranges: [[-100, 100]] });
      expect(Array.from(got), dataType).toEqual([0, 0, 126, 128, 129, 255, 255]);
    }
  });

  it('treats min == max (a constant band) as a threshold at min', () => {
    for (const dataType of ['UInt16', 'Float32'] as const) {
      const src = planes(dataType, [[0, 499, 500, 501, 65535]]);
      const out = convertTile(src, { width: 5, height: 1, bandCount: 1, dataType, bands: [0], outputType: 'Byte', ranges: [[500, 500]] });
      expect(Array.from(out), dataType).toEqual([0, 0, 0, 255, 255]);
    }
  });

  it('applies a separate range per output band', () => {
    const src = planes('UInt16', [[10, 20], [1000, 3000]]);
    const out = convertTile(src, {
      width: 2, height: 1, bandCount: 2, dataType: 'UInt16', bands: [1, 0], outputType: 'Byte', ranges: [[1000, 3000], [0, 20]],
    });
    // band 1: 1000 -> 0, 3000 -> 255; band 0: 10*255/20 = 127.5 -> 128, 20 -> 255
    expect(Array.from(out)).toEqual([0, 128, 255, 255]);
  });
});

describe('convertTile: copies and clamps', () => {
  it('reorders bands into pixel-interleaved order with exact bytes', () => {
    const src = planes('Byte', [[1, 2, 3, 4], [10, 20, 30, 40], [100, 200, 250, 255]]);
    const base = { width: 2, height: 2, bandCount: 3, dataType: 'Byte', outputType: 'Byte' } as const;
    expect(Array.from(convertTile(src, { ...base, bands: [2, 1, 0] }))).toEqual([100, 10, 1, 200, 20, 2, 250, 30, 3, 255, 40, 4]);
    expect(Array.from(convertTile(src, { ...base, bands: [1] }))).toEqual([10, 20, 30, 40]);
    expect(Array.from(convertTile(src, { ...base, bands: [0, 0] }))).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(Array.from(convertTile(src, { ...base, bands: [0, 1, 2, 1] }))).toEqual([
      1, 10, 100, 10, 2, 20, 200, 20, 3, 30, 250, 30, 4, 40, 255, 40,
    ]);
  });

  it("copies UInt16 exactly with outputType 'same'", () => {
    const src = planes('UInt16', [[0, 65535, 12345], [1, 2, 3]]);
    const out = convertTile(src, { width: 3, height: 1, bandCount: 2, dataType: 'UInt16', bands: [0, 1], outputType: 'same' });
    expect(out.byteLength).toBe(12);
    expect(u16(out)).toEqual([0, 1, 65535, 2, 12345, 3]);
  });

  it("copies Float64 exactly with outputType 'same'", () => {
    const src = planes('Float64', [[-1.5, Math.PI], [1e300, Number.NaN]]);
    const out = convertTile(src, { width: 2, height: 1, bandCount: 2, dataType: 'Float64', bands: [1, 0], outputType: 'same' });
    expect(Array.from(new Float64Array(out.buffer, out.byteOffset, 4))).toEqual([1e300, -1.5, Number.NaN, Math.PI]);
  });

  it('clamps Int16 negatives to 0 without ranges', () => {
    const values = [-32768, -1, 0, 1, 255, 256, 32767];
    const opts = { width: 7, height: 1, bandCount: 1, dataType: 'Int16', bands: [0] } as const;
    expect(Array.from(convertTile(planes('Int16', [values]), { ...opts, outputType: 'Byte' }))).toEqual([0, 0, 0, 1, 255, 255, 255]);
    expect(u16(convertTile(planes('Int16', [values]), { ...opts, outputType: 'UInt16' }))).toEqual([0, 0, 0, 1, 255, 256, 32767]);
  });

  it('rounds and clamps floats, NaN becomes 0', () => {
    const src = planes('Float32', [[Number.NaN, 1.5, 2.4, -3, 300, Infinity, -Infinity, 0.5]]);
    const out = convertTile(src, { width: 8, height: 1, bandCount: 1, dataType: 'Float32', bands: [0], outputType: 'Byte' });
    expect(Array.from(out)).toEqual([0, 2, 2, 0, 255, 255, 0, 1]);
    const stretched = convertTile(src, { width: 8, height: 1, bandCount: 1, dataType: 'Float32', bands: [0], outputType: 'Byte', ranges: [[0, 1]] });
    expect(Array.from(stretched)).toEqual([0, 255, 255, 0, 255, 255, 0, 128]);
  });

  it('reads a SharedArrayBuffer view at an odd byte offset', () => {
    const data = planes('UInt16', [[0, 100, 1000, 1073], [5, 6, 7, 8]]);
    const sab = new SharedArrayBuffer(data.byteLength + 3);
    const view = new Uint8Array(sab, 1, data.byteLength);
    view.set(data);
    const opts: ConvertOptions = { width: 2, height: 2, bandCount: 2, dataType: 'UInt16', bands: [0, 1], outputType: 'Byte', ranges: [[100, 2047], [0, 8]] };
    const out = convertTile(view, opts);
    // band 1: 5*255/8 = 159.375 -> 159, 6 -> 191.25 -> 191, 7 -> 223.125 -> 223, 8 -> 255
    expect(Array.from(out)).toEqual([0, 159, 0, 191, 118, 223, 127, 255]);
  });

  it('writes into a large-enough output and allocates when it is too small', () => {
    const src = planes('Byte', [[1, 2], [3, 4]]);
    const opts: ConvertOptions = { width: 2, height: 1, bandCount: 2, dataType: 'Byte', bands: [1, 0], outputType: 'Byte' };
    const big = new Uint8Array(10).fill(9);
    const out = convertTile(src, opts, big);
    expect(out.buffer).toBe(big.buffer);
    expect(out.byteLength).toBe(4);
    expect(Array.from(big)).toEqual([3, 1, 4, 2, 9, 9, 9, 9, 9, 9]);
    const exact = new Uint8Array(4);
    expect(convertTile(src, opts, exact)).toBe(exact);
    const small = new Uint8Array(3);
    const fresh = convertTile(src, opts, small);
    expect(fresh.buffer).not.toBe(small.buffer);
    expect(Array.from(fresh)).toEqual([3, 1, 4, 2]);
    expect(Array.from(small)).toEqual([0, 0, 0]);
  });
});

describe('convertTile: matches the documented formula on random data', () => {
  // The formula from ConvertOptions.ranges, written independently of the Rust code.
  function reference(dataType: DataType, values: number[], range: [number, number] | undefined, outMax: number): number[] {
    return values.map((v) => {
      const x = range ? ((v - range[0]) * outMax) / (range[1] - range[0]) : v;
      if (Number.isNaN(x)) return 0;
      return Math.floor(Math.min(Math.max(x, 0), outMax) + 0.5);
    });
  }
  const limits: Record<DataType, [number, number]> = {
    Byte: [0, 255], UInt16: [0, 65535], Int16: [-32768, 32767], UInt32: [0, 4294967295], Int32: [-2147483648, 2147483647],
    Float32: [-70000, 70000], Float64: [-1e6, 1e6],
  };
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);

  for (const dataType of Object.keys(BYTES_PER_SAMPLE) as DataType[]) {
    for (const outputType of ['Byte', 'UInt16'] as const) {
      for (const withRanges of [false, true]) {
        it(`${dataType} -> ${outputType}${withRanges ? ' with ranges' : ''}, 1..4 bands`, () => {
          const [lo, hi] = limits[dataType];
          const n = 37 * 5;
          const float = dataType.startsWith('Float');
          const bands = [0, 1, 2].map(() =>
            Array.from({ length: n }, (_, i) => {
              if (i < 2) return i === 0 ? lo : hi;
              const v = lo + rand() * (hi - lo);
              return float ? (dataType === 'Float32' ? Math.fround(v) : v) : Math.round(v);
            }),
          );
          const src = planes(dataType, bands);
          for (const order of [[1], [2, 0], [0, 2, 1], [2, 2, 0, 1]]) {
            const ranges = withRanges
              ? order.map((): [number, number] => {
                  const a = lo + rand() * (hi - lo) * 0.5;
                  const b = a + 1 + rand() * (hi - a) * 0.5;
                  if (rand() < 0.1) return [a, a]; // degenerate: threshold
                  return float ? [a, b] : [Math.round(a), Math.round(b) + 1];
                })
              : undefined;
            const out = convertTile(src, { width: 37, height: 5, bandCount: 3, dataType, bands: order, outputType, ranges });
            const got = outputType === 'Byte' ? Array.from(out) : u16(out);
            const outMax = outputType === 'Byte' ? 255 : 65535;
            const perBand = order.map((b, k) => reference(dataType, bands[b], ranges?.[k], outMax));
            const want = Array.from({ length: n * order.length }, (_, j) => perBand[j % order.length][Math.floor(j / order.length)]);
            expect(got).toEqual(want);
          }
        });
      }
    }
  }
});

describe('convertTile: complex amplitude', () => {
  // Planes: I then Q of complex band 0 (then I, Q of band 1 ...). Hand values: |3+4i| = 5, |-5+12i| = 13,
  // |8-15i| = 17, |0| = 0, |-20+21i| = 29.
  const I = [3, -5, 8, 0, -20];
  const Q = [4, 12, -15, 0, 21];

  it('gives sqrt(I² + Q²), rounded and clamped without ranges, for Int16 and Float32 pairs', () => {
    for (const dataType of ['Int16', 'Float32'] as const) {
      const src = planes(dataType, [I, Q]);
      const opts: ConvertOptions = { width: 5, height: 1, bandCount: 2, dataType, bands: [0], outputType: 'Byte', complex: 'amplitude' };
      expect(Array.from(convertTile(src, opts)), dataType).toEqual([5, 13, 17, 0, 29]);
      expect(u16(convertTile(src, { ...opts, outputType: 'UInt16' })), dataType).toEqual([5, 13, 17, 0, 29]);
    }
  });

  it('stretches known amplitudes with ranges', () => {
    // range [5, 29]: (13-5)*255/24 = 85; (17-5)*255/24 = 127.5 -> 128 (half up); 5 and 0 -> 0; 29 -> 255
    const src = planes('Int16', [I, Q]);
    const out = convertTile(src, { width: 5, height: 1, bandCount: 2, dataType: 'Int16', bands: [0], outputType: 'Byte', complex: 'amplitude', ranges: [[5, 29]] });
    expect(Array.from(out)).toEqual([0, 85, 128, 0, 255]);
    // UInt16: (13-5)*65535/24 = 21845; (17-5)*65535/24 = 32767.5 -> 32768
    const wide = convertTile(src, { width: 5, height: 1, bandCount: 2, dataType: 'Int16', bands: [0], outputType: 'UInt16', complex: 'amplitude', ranges: [[5, 29]] });
    expect(u16(wide)).toEqual([0, 21845, 32768, 0, 65535]);
  });

  it('takes the extremes of Int16 and NaN without overflow', () => {
    const src = planes('Int16', [[32767, -32768], [32767, -32768]]);
    // sqrt(2)·32767 = 46339.54 -> 46340; sqrt(2)·32768 = 46340.95 -> 46341
    const out = convertTile(src, { width: 2, height: 1, bandCount: 2, dataType: 'Int16', bands: [0], outputType: 'UInt16', complex: 'amplitude' });
    expect(u16(out)).toEqual([46340, 46341]);
    const nan = planes('Float32', [[Number.NaN, 3], [1, Number.NaN]]);
    expect(Array.from(convertTile(nan, { width: 2, height: 1, bandCount: 2, dataType: 'Float32', bands: [0], outputType: 'Byte', complex: 'amplitude' }))).toEqual([0, 0]);
  });

  it('names complex bands: [1, 0] of a 4-plane source is |I1+Q1 i| then |I0+Q0 i|, interleaved', () => {
    // band 0: (3,4) -> 5, (6,8) -> 10; band 1: (5,12) -> 13, (8,15) -> 17
    const src = planes('Float32', [[3, 6], [4, 8], [5, 8], [12, 15]]);
    const out = convertTile(src, { width: 2, height: 1, bandCount: 4, dataType: 'Float32', bands: [1, 0], outputType: 'Byte', complex: 'amplitude', ranges: [[13, 17], [0, 10]] });
    // band 1: 13 -> 0, 17 -> 255; band 0: 5*255/10 = 127.5 -> 128, 10 -> 255
    expect(Array.from(out)).toEqual([0, 128, 255, 255]);
  });

  // The definition (ConvertOptions.complex), written independently of the Rust code.
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (const dataType of Object.keys(BYTES_PER_SAMPLE) as DataType[]) {
    it(`matches Math.sqrt(i * i + q * q) and the stretch on random ${dataType} pairs`, () => {
      const [lo, hi] = { Byte: [0, 255], UInt16: [0, 65535], Int16: [-32768, 32767], UInt32: [0, 2 ** 32 - 1], Int32: [-(2 ** 31), 2 ** 31 - 1], Float32: [-7e4, 7e4], Float64: [-1e6, 1e6] }[dataType];
      const n = 1500; // several 512-pixel chunks of the fast path
      const float = dataType.startsWith('Float');
      const sample = () => {
        const v = lo + rand() * (hi - lo);
        return float ? (dataType === 'Float32' ? Math.fround(v) : v) : Math.round(v);
      };
      const values = [0, 1, 2, 3].map(() => Array.from({ length: n }, sample));
      const src = planes(dataType, values);
      const mags = [0, 1].map((k) => values[2 * k].map((i, j) => Math.sqrt(i * i + values[2 * k + 1][j] * values[2 * k + 1][j])));
      const top = Math.max(...mags.flat());
      for (const outputType of ['Byte', 'UInt16'] as const) {
        const outMax = outputType === 'Byte' ? 255 : 65535;
        const ranges: Array<[number, number]> = [[top * 0.1, top * 0.7], [0, top]];
        const out = convertTile(src, { width: 50, height: 30, bandCount: 4, dataType, bands: [1, 0], outputType, complex: 'amplitude', ranges });
        const got = outputType === 'Byte' ? Array.from(out) : u16(out);
        const want = Array.from({ length: 2 * n }, (_, j) => {
          const k = j % 2 === 0 ? 1 : 0;
          const [min, max] = ranges[j % 2];
          const x = ((mags[k][Math.floor(j / 2)] - min) * outMax) / (max - min);
          return Math.floor(Math.min(Math.max(x, 0), outMax) + 0.5);
        });
        expect(got, outputType).toEqual(want);
      }
    });
  }

  it('rejects an odd plane count, bands beyond the pairs, outputType same and unknown modes', () => {
    const src = new Uint8Array(4 * 3 * 2);
    const base: ConvertOptions = { width: 2, height: 1, bandCount: 2, dataType: 'Int16', bands: [0], outputType: 'Byte', complex: 'amplitude' };
    expectError(() => convertTile(src, { ...base, bandCount: 3 }), 'RangeError', 'ERR_OUT_OF_RANGE',
      "convertTile: options.bandCount = 3 is odd, but complex 'amplitude' reads I/Q plane pairs (planes 2k and 2k+1 form complex band k)");
    expectError(() => convertTile(src, { ...base, bands: [1] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.bands[0] = 1 is out of range for a 2-plane source of 1 complex (I/Q) band(s)');
    expectError(() => convertTile(src, { ...base, outputType: 'same' }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.outputType 'same' cannot be used with complex 'amplitude' (the amplitude is not a source sample); use 'Byte' or 'UInt16'");
    expectError(() => convertTile(src, { ...base, complex: 'phase' as 'amplitude' }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.complex = 'phase' is not supported; the only value is 'amplitude'");
    expectError(() => convertTile(src, { ...base, complex: true as unknown as 'amplitude' }), 'TypeError', 'ERR_INVALID_ARG_TYPE',
      'convertTile: options.complex must be a string (got boolean)');
    // The native layer says the same on its own.
    const native = createRequire(import.meta.url)(nativeInfo().path) as { convert(s: unknown, o: unknown, out: unknown): void };
    const out = new Uint8Array(8);
    expectError(() => native.convert(src, { ...base, bandCount: 3 }, out), 'RangeError', 'ERR_OUT_OF_RANGE',
      "convert: options.bandCount = 3 is odd, but complex 'amplitude' reads I/Q plane pairs (planes 2k and 2k+1 form complex band k)");
    expectError(() => native.convert(src, { ...base, bands: [1] }, out), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convert: options.bands[0] = 1 is out of range for a 2-plane source of 1 complex (I/Q) band(s)');
    expectError(() => native.convert(src, { ...base, outputType: 'same' }, out), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convert: options.outputType 'same' cannot be used with complex 'amplitude' (the amplitude is not a source sample); use 'Byte' or 'UInt16'");
    expectError(() => native.convert(src, { ...base, complex: 'phase' }, out), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convert: options.complex = 'phase' is not supported; the only value is 'amplitude'");
  });
});

describe('convertTile: errors', () => {
  const good: ConvertOptions = { width: 2, height: 2, bandCount: 3, dataType: 'Byte', bands: [2, 1, 0], outputType: 'Byte' };
  const src = new Uint8Array(12);

  it('rejects an out-of-range band', () => {
    expectError(() => convertTile(src, { ...good, bands: [2, 5, 0] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.bands[1] = 5 is out of range for a 3-band source');
    expectError(() => convertTile(src, { ...good, bands: [] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.bands has 0 entries; 1 to 4 are supported');
  });

  it('rejects a source that is too small', () => {
    expectError(() => convertTile(new Uint8Array(11), good), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: source is too small: 3 band(s) of 2×2 Byte need 12 bytes, got 11');
  });

  it('rejects unsupported and unknown data types', () => {
    expectError(() => convertTile(src, { ...good, dataType: 'CFloat32' as DataType }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.dataType = 'CFloat32' (complex) is not supported yet; convert complex data to magnitude first");
    expectError(() => convertTile(src, { ...good, dataType: 'Int8' as DataType }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.dataType = 'Int8' is not one of Byte, UInt16, Int16, UInt32, Int32, Float32, Float64");
    expectError(() => convertTile(src, { ...good, outputType: 'Float32' as 'Byte' }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.outputType = 'Float32' is not one of Byte, UInt16, same");
  });

  it('rejects bad ranges', () => {
    expectError(() => convertTile(src, { ...good, ranges: [[0, 1]] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.ranges has 1 entries but options.bands has 3; give one [min, max] per output band');
    expectError(() => convertTile(src, { ...good, ranges: [[0, 1], [5, 4], [0, 1]] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.ranges[1] = [5, 4]: min must not exceed max');
    expectError(() => convertTile(src, { ...good, ranges: [[0, 1], [0, Number.NaN], [0, 1]] }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.ranges[1][1] = NaN must be a finite number');
    expectError(() => convertTile(src, { ...good, outputType: 'same', ranges: [[0, 1], [0, 1], [0, 1]] }), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convertTile: options.ranges cannot be used with outputType 'same' (an exact copy); use 'Byte' or 'UInt16'");
  });

  it('rejects wrong argument types and overlapping output', () => {
    expectError(() => convertTile([1, 2, 3] as unknown as Uint8Array, good), 'TypeError', 'ERR_INVALID_ARG_TYPE',
      'convertTile: source must be a Uint8Array (got Array)');
    expectError(() => convertTile(src, { ...good, width: 1.5 }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convertTile: options.width = 1.5 must be an integer');
    expectError(() => convertTile(src, { ...good, height: '2' as unknown as number }), 'TypeError', 'ERR_INVALID_ARG_TYPE',
      "convertTile: options.height must be a number (got string '2')");
    const shared = new Uint8Array(24);
    expectError(() => convertTile(shared.subarray(0, 12), good, shared.subarray(6)), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      'convertTile: output must not share memory with source');
  });

  it('native layer validates on its own (never trusts JS)', () => {
    const native = createRequire(import.meta.url)(nativeInfo().path) as {
      convert(s: unknown, o: unknown, out: unknown): void;
      encodeJpeg(...a: unknown[]): Buffer;
      encodePng(...a: unknown[]): Buffer;
    };
    const out = new Uint8Array(12);
    expectError(() => native.convert(src, { ...good, bands: [2, 5, 0] }, out), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convert: options.bands[1] = 5 is out of range for a 3-band source');
    expectError(() => native.convert(src, good, new Uint8Array(11)), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convert: output is too small: need 12 bytes, got 11');
    expectError(() => native.convert(new Uint8Array(8), { ...good, dataType: 'UInt16' }, out), 'RangeError', 'ERR_OUT_OF_RANGE',
      'convert: source is too small: 3 band(s) of 2×2 UInt16 need 24 bytes, got 8');
    expectError(() => native.convert(src, { ...good, dataType: 'CInt16' }, out), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "convert: options.dataType = 'CInt16' (complex) is not supported yet; convert complex data to magnitude first");
    expectError(() => native.convert(src, null, out), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'convert: options must be an object (got null)');
    expectError(() => native.convert(src, good, src), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      'convert: output must not share memory with source');
    expectError(() => native.encodeJpeg(new Uint8Array(3), 1, 1, 3, 101), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJpeg: quality = 101 is out of range 1..100');
    expectError(() => native.encodePng(new Uint8Array(3), 1, 1, 3, 16), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodePng: pixels is too small: 1×1×3 at 16 bits needs 6 bytes, got 3');
    // A throwing getter propagates its own exception unchanged.
    const evil = Object.defineProperty({ ...good }, 'width', { get: () => { throw new Error('getter says no'); } });
    expect(() => native.convert(src, evil, out)).toThrow('getter says no');
  });
});

/** Smooth RGB gradient: JPEG-friendly, so decode error must stay small. */
function gradient(width: number, height: number, channels: number): Uint8Array {
  const px = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        px[(y * width + x) * channels + c] = Math.round(c === 0 ? (x * 255) / (width - 1) : c === 1 ? (y * 255) / (height - 1) : ((x + y) * 255) / (width + height - 2));
      }
    }
  }
  return px;
}

function noise(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let s = seed;
  for (let i = 0; i < bytes; i++) out[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  return out;
}

describe('encodeJpeg', () => {
  it('encodes RGB that sharp decodes to the right size within a small error', async () => {
    const [w, h] = [160, 96];
    const px = gradient(w, h, 3);
    const jpeg = encodeJpeg(px, w, h, 3, 90);
    expect(Buffer.isBuffer(jpeg)).toBe(true);
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < data.length; i++) {
      const d = Math.abs(data[i] - px[i]);
      sum += d;
      max = Math.max(max, d);
    }
    expect(sum / data.length).toBeLessThan(1.5);
    expect(max).toBeLessThanOrEqual(8);
  });

  it('encodes greyscale from a SharedArrayBuffer view', async () => {
    const [w, h] = [33, 17];
    const sab = new SharedArrayBuffer(w * h + 5);
    const px = new Uint8Array(sab, 5, w * h);
    px.set(gradient(w, h, 1));
    const { data, info } = await sharp(encodeJpeg(px, w, h, 1, 95)).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 1]);
    for (let i = 0; i < data.length; i++) expect(Math.abs(data[i] - px[i])).toBeLessThanOrEqual(4);
  });

  it('rejects bad arguments', () => {
    expectError(() => encodeJpeg(new Uint8Array(12), 2, 2, 2 as 3, 90), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJpeg: channels = 2 is not supported by JPEG; use 1 (grey) or 3 (RGB)');
    expectError(() => encodeJpeg(new Uint8Array(12), 2, 2, 3, 0), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJpeg: quality = 0 is out of range 1..100');
    expectError(() => encodeJpeg(new Uint8Array(11), 2, 2, 3, 90), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJpeg: pixels is too small: 2×2×3 needs 12 bytes, got 11');
  });
});

describe('encodePng', () => {
  // sharp keeps 16-bit data only in grey16/rgb16; 8-bit grey+alpha only comes out as sRGB+alpha.
  const colourspace = (channels: number, depth: 8 | 16) =>
    depth === 16 ? (channels <= 2 ? 'grey16' : 'rgb16') : channels === 1 ? 'b-w' : 'srgb';

  async function decode(png: Buffer, channels: number, depth: 8 | 16) {
    const { data, info } = await sharp(png)
      .toColourspace(colourspace(channels, depth))
      .raw({ depth: depth === 16 ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (depth === 8 && channels === 2) {
      // grey, grey, grey, alpha -> grey, alpha
      const ga = new Uint8Array(info.width * info.height * 2);
      for (let i = 0; i < info.width * info.height; i++) {
        ga[2 * i] = data[4 * i];
        ga[2 * i + 1] = data[4 * i + 3];
      }
      return { data: ga, info };
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info };
  }

  for (const channels of [1, 2, 3, 4] as const) {
    for (const depth of [8, 16] as const) {
      it(`round-trips ${channels} channel(s) at ${depth} bits pixel-exactly with every filter`, async () => {
        const [w, h] = [37, 23]; // odd sizes exercise the filters' left edge
        const px = noise(w * h * channels * (depth / 8), channels * 100 + depth);
        for (const filter of ['none', 'sub', 'up', 'average', 'paeth', undefined] as Array<PngFilter | undefined>) {
          const png = encodePng(px, w, h, channels, depth, undefined, filter);
          const meta = await sharp(png).metadata();
          expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([w, h, channels, depth === 16 ? 'ushort' : 'uchar']);
          const { data } = await decode(png, channels, depth);
          expect(Buffer.compare(data, px), `filter ${filter}`).toBe(0);
        }
      });
    }
  }

  it('round-trips a gradient at every compression level', async () => {
    const [w, h] = [64, 40];
    const px = gradient(w, h, 3);
    for (const level of [0, 1, 6, 9, 12]) {
      const { data, info } = await decode(encodePng(px, w, h, 3, 8, level), 3, 8);
      expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
      expect(Buffer.compare(data, px), `level ${level}`).toBe(0);
    }
  });

  it('writes 16-bit samples big-endian (PNG byte order)', async () => {
    const px = new Uint8Array(new Uint16Array([0x0102, 0xa0b0]).buffer);
    const png = encodePng(px, 2, 1, 1, 16, 0, 'none'); // level 0 = stored: raw bytes are visible
    const at = png.indexOf(Buffer.from([0, 0x01, 0x02, 0xa0, 0xb0])); // filter byte 0, then big-endian samples
    expect(at).toBeGreaterThan(0);
    const { data } = await decode(png, 1, 16);
    expect(u16(data)).toEqual([0x0102, 0xa0b0]);
  });

  it('rejects bad arguments', () => {
    expectError(() => encodePng(new Uint8Array(4), 2, 2, 1, 12 as 8), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodePng: bitDepth = 12 is not supported; use 8 or 16');
    expectError(() => encodePng(new Uint8Array(4), 2, 2, 5 as 4, 8), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodePng: channels = 5 is out of range 1..4');
    expectError(() => encodePng(new Uint8Array(4), 2, 2, 1, 8, 13), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodePng: level = 13 is out of range 0..12');
    expectError(() => encodePng(new Uint8Array(4), 2, 2, 1, 8, 1, 'adaptive' as PngFilter), 'TypeError', 'ERR_INVALID_ARG_VALUE',
      "encodePng: filter = string 'adaptive' is not one of none, sub, up, average, paeth");
    expectError(() => encodePng(new Uint8Array(7), 2, 2, 1, 16), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodePng: pixels is too small: 2×2×1 at 16 bits needs 8 bytes, got 7');
  });
});

describe('encodeJ2k', () => {
  let n = 0;
  /** Decodes a codestream with GDAL's JP2OpenJPEG driver: band-sequential samples per band. */
  function decodeJ2k(j2k: Buffer): { driver: string; width: number; height: number; type: string; bands: number[][]; reversibility: string } {
    const path = `/vsimem/native-test-${process.pid}-${n++}.j2k`;
    gdal.vsimem.set(j2k, path);
    try {
      const ds = gdal.open(path);
      const { x: width, y: height } = ds.rasterSize;
      const bands = Array.from({ length: ds.bands.count() }, (_, b) => Array.from(ds.bands.get(b + 1).pixels.read(0, 0, width, height)));
      const result = {
        driver: ds.driver.description, width, height, type: ds.bands.get(1).dataType ?? '', bands,
        reversibility: (ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string>).COMPRESSION_REVERSIBILITY,
      };
      ds.close();
      return result;
    } finally {
      gdal.vsimem.release(path);
    }
  }
  const bandOf = (bip: ArrayLike<number>, channels: number, c: number) => Array.from({ length: bip.length / channels }, (_, i) => bip[i * channels + c]);

  for (const channels of [1, 2, 3, 4] as const) {
    it(`is lossless by default: ${channels} channel(s) of 8-bit noise round-trip exactly`, () => {
      const [w, h] = [37, 23];
      const px = noise(w * h * channels, channels);
      const j2k = encodeJ2k(px, w, h, channels, 8);
      expect(j2k.subarray(0, 4)).toEqual(Buffer.from([0xff, 0x4f, 0xff, 0x51])); // SOC, SIZ: a raw codestream
      expect(j2k.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9])); // EOC
      const d = decodeJ2k(j2k);
      expect([d.driver, d.width, d.height, d.type, d.bands.length, d.reversibility]).toEqual(['JP2OpenJPEG', w, h, 'Byte', channels, 'LOSSLESS (possibly)']);
      for (let c = 0; c < channels; c++) expect(d.bands[c]).toEqual(bandOf(px, channels, c));
    });
  }

  it('carries 16-bit, 12-bit precision and signed samples exactly', () => {
    const [w, h] = [19, 11];
    const u = Uint16Array.from({ length: w * h }, (_, i) => (i * 2654435761) % 65536);
    expect(decodeJ2k(encodeJ2k(new Uint8Array(u.buffer), w, h, 1, 16)).bands[0]).toEqual(Array.from(u));
    const twelve = u.map((v) => v >> 4);
    const d12 = decodeJ2k(encodeJ2k(new Uint8Array(twelve.buffer), w, h, 1, 16, { precision: 12 }));
    expect([d12.type, d12.bands[0]]).toEqual(['UInt16', Array.from(twelve)]);
    const s = Int16Array.from({ length: w * h * 2 }, (_, i) => ((i * 40503) % 65536) - 32768);
    const ds = decodeJ2k(encodeJ2k(new Uint8Array(s.buffer), w, h, 2, 16, { signed: true }));
    expect(ds.type).toBe('Int16');
    expect(ds.bands).toEqual([bandOf(s, 2, 0), bandOf(s, 2, 1)]);
  });

  it('handles images smaller than the resolution pyramid (1×1, 3×200)', () => {
    for (const [w, h] of [[1, 1], [3, 200]]) {
      const px = noise(w * h * 3, w + h);
      const d = decodeJ2k(encodeJ2k(px, w, h, 3, 8));
      for (let c = 0; c < 3; c++) expect(d.bands[c]).toEqual(bandOf(px, 3, c));
    }
  });

  it('a compression ratio gives a lossy codestream of about that ratio', () => {
    const [w, h] = [160, 96];
    const px = gradient(w, h, 3);
    const lossless = encodeJ2k(px, w, h, 3, 8);
    const lossy = encodeJ2k(px, w, h, 3, 8, { compressionRatio: 20 });
    expect(lossy.byteLength).toBeLessThan(lossless.byteLength);
    expect(lossy.byteLength).toBeLessThanOrEqual((px.byteLength / 20) * 1.1);
    const d = decodeJ2k(lossy);
    expect(d.reversibility).toBe('LOSSY');
    let sum = 0;
    for (let c = 0; c < 3; c++) d.bands[c].forEach((v, i) => (sum += Math.abs(v - px[i * 3 + c])));
    expect(sum / px.length).toBeLessThan(2);
    // reversible + ratio: the 5/3 wavelet, truncated
    expect(decodeJ2k(encodeJ2k(px, w, h, 3, 8, { compressionRatio: 20, reversible: true })).reversibility).toBe('LOSSLESS (possibly)');
  });

  it('rejects bad arguments, on both layers', () => {
    expectError(() => encodeJ2k(new Uint8Array(4), 2, 2, 1, 12 as 8), 'RangeError', 'ERR_OUT_OF_RANGE', 'encodeJ2k: bitDepth = 12 is not supported; use 8 or 16');
    expectError(() => encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, { compressionRatio: 0.5 }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJ2k: options.compressionRatio = 0.5 must be at least 1 (e.g. 20 for 20:1)');
    expectError(() => encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, { precision: 9 }), 'RangeError', 'ERR_OUT_OF_RANGE', 'encodeJ2k: options.precision = 9 is out of range 1..8');
    expectError(() => encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, { reversible: 'yes' as unknown as boolean }), 'TypeError', 'ERR_INVALID_ARG_TYPE',
      "encodeJ2k: options.reversible must be a boolean (got string 'yes')");
    expectError(() => encodeJ2k(new Uint8Array(7), 2, 2, 1, 16), 'RangeError', 'ERR_OUT_OF_RANGE', 'encodeJ2k: pixels is too small: 2×2×1 at 16 bits needs 8 bytes, got 7');
    expectError(() => encodeJ2k(new Uint8Array(new Uint16Array([1, 2, 4096, 3]).buffer), 2, 2, 1, 16, { precision: 12 }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJ2k: pixels holds the sample 4096, outside the 12-bit unsigned range 0..4095 given by options.precision');
    const native = createRequire(import.meta.url)(nativeInfo().path) as { encodeJ2k(...a: unknown[]): Buffer; deflateZlib(...a: unknown[]): Buffer };
    expectError(() => native.encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, { compressionRatio: 0.5 }), 'RangeError', 'ERR_OUT_OF_RANGE',
      'encodeJ2k: options.compressionRatio = 0.5 must be at least 1 (e.g. 20 for 20:1)');
    expectError(() => native.encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, { signed: 1 }), 'TypeError', 'ERR_INVALID_ARG_TYPE',
      'encodeJ2k: options.signed must be a boolean (got number 1)');
    expectError(() => native.encodeJ2k(new Uint8Array(4), 2, 2, 1, 8, 'fast'), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'encodeJ2k: options must be an object (got string)');
    expectError(() => native.deflateZlib(new Uint8Array(4), 13), 'RangeError', 'ERR_OUT_OF_RANGE', 'deflateZlib: level = 13 is out of range 0..12');
    expectError(() => native.deflateZlib('abc', 1), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'deflateZlib: bytes must be a Uint8Array (got string)');
  });
});

describe('deflateZlib', () => {
  it('writes a zlib stream that node:zlib inflates, at every level', () => {
    const data = new Uint8Array(Buffer.concat([Buffer.from(gradient(200, 100, 3)), Buffer.from(noise(5000, 3))]));
    for (const level of [0, 1, 6, 9, 12]) {
      const z = deflateZlib(data, level);
      expect(z[0] & 0x0f, `level ${level}`).toBe(8); // CMF: deflate
      expect(((z[0] << 8) | z[1]) % 31).toBe(0); // zlib header check bits
      expect(Buffer.compare(inflateSync(z), Buffer.from(data)), `level ${level}`).toBe(0);
    }
    expect(deflateZlib(data, 0).byteLength).toBeGreaterThan(data.byteLength); // stored
    expect(deflateZlib(data, 9).byteLength).toBeLessThan(deflateZlib(data, 0).byteLength);
    expect(inflateSync(deflateZlib(new Uint8Array(0), 1)).byteLength).toBe(0);
  });

  it('reads a SharedArrayBuffer view and rejects bad levels', () => {
    const sab = new SharedArrayBuffer(1000);
    const view = new Uint8Array(sab, 3, 900).fill(7);
    expect(Buffer.compare(inflateSync(deflateZlib(view, 1)), Buffer.from(view))).toBe(0);
    expectError(() => deflateZlib(view, 1.5), 'RangeError', 'ERR_OUT_OF_RANGE', 'deflateZlib: level = 1.5 must be an integer');
    expectError(() => deflateZlib(view, -1), 'RangeError', 'ERR_OUT_OF_RANGE', 'deflateZlib: level = -1 is out of range 0..12');
  });
});

describe('threads', () => {
  it('loads per worker thread and gives identical results concurrently', async () => {
    const [w, h] = [96, 64];
    const sab = new SharedArrayBuffer(w * h * 3);
    new Uint8Array(sab).set(noise(w * h * 3, 7));
    const px = new Uint8Array(sab);
    const expected = [
      encodePng(px, w, h, 3, 8).toString('base64'),
      encodeJpeg(px, w, h, 3, 80).toString('base64'),
      encodeJ2k(px, w, h, 3, 8).toString('base64'),
      deflateZlib(px, 6).toString('base64'),
    ];
    // Plain CommonJS worker: it loads the .node file itself, like a Piscina worker would.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const native = require(workerData.path);
      const px = new Uint8Array(workerData.sab);
      const seen = new Set();
      for (let i = 0; i < 25; i++) {
        seen.add([
          native.encodePng(px, ${w}, ${h}, 3, 8).toString('base64'),
          native.encodeJpeg(px, ${w}, ${h}, 3, 80).toString('base64'),
          native.encodeJ2k(px, ${w}, ${h}, 3, 8).toString('base64'),
          native.deflateZlib(px, 6).toString('base64'),
        ].join('|'));
      }
      parentPort.postMessage([...seen]);`;
    const results = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<string[]>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { path: nativeInfo().path, sab } });
            worker.once('message', (m: string[]) => {
              resolve(m);
              void worker.terminate();
            });
            worker.once('error', reject);
          }),
      ),
    );
    for (const r of results) expect(r).toEqual([expected.join('|')]);
  });
});
