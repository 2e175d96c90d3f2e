// Multispectral tiles: more bands than the native conversion takes in one call are converted in groups and
// interleaved; the expected bytes are written out by hand.
import { describe, it, expect } from 'vitest';
import { convertAnyBands } from '../src/pixels/convert-bands.js';

describe('convertAnyBands', () => {
  it('interleaves 6 bands of a 2x1 Byte window in the order asked', () => {
    // band-sequential planes: band b holds [10*b + 1, 10*b + 2]
    const source = Uint8Array.from([1, 2, 11, 12, 21, 22, 31, 32, 41, 42, 51, 52]);
    const out = convertAnyBands(source, { width: 2, height: 1, bandCount: 6, dataType: 'Byte', bands: [5, 4, 3, 2, 1, 0], outputType: 'same' });
    expect([...out]).toEqual([51, 41, 31, 21, 11, 1, 52, 42, 32, 22, 12, 2]);
  });

  it('keeps 16-bit samples whole and applies per-band ranges across groups', () => {
    const planes = [[0, 100], [0, 200], [0, 300], [0, 400], [0, 500]];
    const source = new Uint8Array(Uint16Array.from(planes.flat()).buffer);
    const same = convertAnyBands(source, { width: 2, height: 1, bandCount: 5, dataType: 'UInt16', bands: [0, 1, 2, 3, 4], outputType: 'same' });
    expect([...new Uint16Array(same.buffer, same.byteOffset, 10)]).toEqual([0, 0, 0, 0, 0, 100, 200, 300, 400, 500]);
    // band k's range is [0, 100 * (k + 1)]: every second pixel maps to 255, the first to 0
    const ranges = planes.map((_, k) => [0, 100 * (k + 1)] as [number, number]);
    const byte = convertAnyBands(source, { width: 2, height: 1, bandCount: 5, dataType: 'UInt16', bands: [0, 1, 2, 3, 4], outputType: 'Byte', ranges });
    expect([...byte]).toEqual([0, 0, 0, 0, 0, 255, 255, 255, 255, 255]);
  });
});
