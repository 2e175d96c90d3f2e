/**
 * Benchmark images, generated with GDAL into a cache folder outside the repository (reused when present, never
 * committed). Pixels are a cheap but non-constant pattern (gradient + hash noise) so encoders do real work.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import gdal from 'gdal-async';

export const BENCH_DIR = process.env.TESSERA_BENCH_DIR ?? join(homedir(), '.cache', 'tessera-bench');

export interface FixtureSpec {
  name: string;
  description: string;
  width: number;
  height: number;
  bands: number;
  type: 'Byte' | 'UInt16';
  /** Bits of real data (11 for 11-bit in 16). */
  bits: number;
  driver: 'NITF' | 'GTiff';
  creationOptions: string[];
  /** Write through a temporary GTiff then translate (NITF C3 needs CreateCopy). */
  viaCopy?: boolean;
}

export const FIXTURES: Record<string, FixtureSpec> = {
  a: { name: 'a-16k-mono8-nc.ntf', description: '16384² 1-band 8-bit NITF, uncompressed', width: 16384, height: 16384, bands: 1, type: 'Byte', bits: 8, driver: 'NITF', creationOptions: ['IC=NC', 'ICORDS=G'] },
  b: { name: 'b-8k-rgb8-c3.ntf', description: '8192² 3-band 8-bit NITF, JPEG (IC=C3), 256² blocks', width: 8192, height: 8192, bands: 3, type: 'Byte', bits: 8, driver: 'NITF', creationOptions: ['IC=C3', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'QUALITY=85', 'ICORDS=G'], viaCopy: true },
  c: { name: 'c-8k-mono11in16-nc.ntf', description: '8192² 1-band 16-bit NITF holding 11-bit data', width: 8192, height: 8192, bands: 1, type: 'UInt16', bits: 11, driver: 'NITF', creationOptions: ['IC=NC', 'NBITS=11', 'ICORDS=G'] },
  quarter: { name: 'd-16k-mono8-tiled.tif', description: '16384² (0.27 GP) 1-band 8-bit tiled GeoTIFF', width: 16384, height: 16384, bands: 1, type: 'Byte', bits: 8, driver: 'GTiff', creationOptions: ['TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512'] },
  giga: { name: 'd-32k-mono8-tiled.tif', description: '32768² (1.07 GP) 1-band 8-bit tiled GeoTIFF', width: 32768, height: 32768, bands: 1, type: 'Byte', bits: 8, driver: 'GTiff', creationOptions: ['TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512'] },
};

/** Returns the fixture's path, generating it first when the cache does not have it. */
export async function ensureFixture(spec: FixtureSpec, log: (m: string) => void = () => {}): Promise<string> {
  mkdirSync(BENCH_DIR, { recursive: true });
  const path = join(BENCH_DIR, spec.name);
  if (existsSync(path)) return path;
  log(`generating ${spec.description} -> ${path}`);
  const tmp = `${path}.partial`;
  const target = spec.viaCopy ? `${path}.src.tif` : tmp;
  const ds = gdal.open(target, 'w', spec.viaCopy ? 'GTiff' : spec.driver, spec.width, spec.height, spec.bands, spec.type, spec.viaCopy ? ['TILED=YES'] : spec.creationOptions);
  ds.srs = gdal.SpatialReference.fromEPSG(4326);
  ds.geoTransform = [10, 1e-5, 0, 50, 0, -1e-5];
  const rows = 256;
  const max = 2 ** spec.bits - 1;
  const buf = spec.type === 'Byte' ? new Uint8Array(spec.width * rows) : new Uint16Array(spec.width * rows);
  for (let b = 1; b <= spec.bands; b++) {
    const band = ds.bands.get(b);
    for (let y0 = 0; y0 < spec.height; y0 += rows) {
      const h = Math.min(rows, spec.height - y0);
      for (let y = 0; y < h; y++) {
        const yy = y0 + y;
        for (let x = 0; x < spec.width; x++) {
          // gradient + a cheap integer hash: non-constant, partly compressible, like imagery
          const noise = (Math.imul(x * 374761393 + yy * 668265263 + b * 2147483647, 1274126177) >>> 24) & 63;
          buf[y * spec.width + x] = Math.min(max, Math.floor((((x >> 4) + (yy >> 4) * 3 + b * 40) % 192) * (max / 255)) + Math.floor(noise * (max / 255)));
        }
      }
      await band.pixels.writeAsync(0, y0, spec.width, h, buf.subarray(0, spec.width * h));
    }
  }
  ds.close();
  if (spec.viaCopy) {
    const src = await gdal.openAsync(target);
    const out = await gdal.translateAsync(tmp, src, ['-of', spec.driver, ...spec.creationOptions.flatMap((o) => ['-co', o])]);
    out.close();
    src.close();
    gdal.open(target).driver.deleteDataset(target);
  }
  renameSync(tmp, path);
  // GDAL may leave PAM side-car metadata named after the temporary file: it belongs to nothing now.
  rmSync(`${tmp}.aux.xml`, { force: true });
  return path;
}
