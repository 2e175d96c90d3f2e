// Opens encoded tile bytes with GDAL from its in-memory filesystem, for tests that let GDAL judge an encoder.
import { expect } from 'vitest';
import gdal from 'gdal-async';

let fileCounter = 0;

/** Opens encoded bytes from /vsimem, runs `check`, and asserts GDAL raised no error or warning meanwhile. */
export function withGdal(bytes: Uint8Array, extension: string, check: (ds: gdal.Dataset) => void): void {
  const path = `/vsimem/tessera-test-${process.pid}-${fileCounter++}.${extension}`;
  gdal.vsimem.set(Buffer.from(bytes), path);
  try {
    gdal.lastError = null;
    const ds = gdal.open(path);
    try {
      check(ds);
      expect(gdal.lastError).toBeNull();
    } finally {
      ds.close();
    }
  } finally {
    gdal.vsimem.release(path);
  }
}
