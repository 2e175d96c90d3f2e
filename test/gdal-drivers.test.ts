// The GDAL drivers `tessera serve` opens request images with (TESSERA_GDAL_DRIVERS): a VRT whose source is a
// /vsicurl/ URL must never make GDAL fetch that URL, whichever open of the image (header, window reads, band
// statistics) comes first; every real fixture still opens and reads with the default list; `tessera run` keeps
// opening anything GDAL can. A loopback "bait" server counts what GDAL would fetch.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultServiceDrivers, parseDriverList } from '../src/raster/gdal-drivers.js';
import { describeRaster, RasterInputError } from '../src/raster/raster-source.js';
import { bandHistograms } from '../src/raster/band-statistics.js';
import { WindowReader } from '../src/raster/window-reader.js';
import { openRaster } from '../src/raster/s3-read-credentials.js';
import { realFixture, tempDir } from './helpers/cli.js';
import { writeTestImage } from './helpers/serve.js';

let bait: Server;
let fetched: string[];
let dir: string;
let curlVrt: string;
let localVrt: string;
let tif: string;

/** A 64x64 VRT whose one band is read from `source`. */
function writeVrt(path: string, source: string): void {
  writeFileSync(path, `<VRTDataset rasterXSize="64" rasterYSize="64"><VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename relativeToVRT="0">${source}</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>`);
}

beforeAll(async () => {
  fetched = [];
  bait = createServer((req, res) => {
    fetched.push(`${req.method} ${req.url}`);
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => bait.listen(0, '127.0.0.1', r));
  dir = tempDir('tessera-drivers-');
  tif = join(dir, 'source.tif');
  writeTestImage(tif, 64, 64);
  curlVrt = join(dir, 'curl.vrt');
  writeVrt(curlVrt, `/vsicurl/http://127.0.0.1:${(bait.address() as AddressInfo).port}/latest/meta-data/image.tif`);
  localVrt = join(dir, 'local.vrt');
  writeVrt(localVrt, tif);
});

afterAll(() => new Promise<void>((r) => bait.close(() => r())));

const DEFAULT = ['NITF', 'GTiff', 'COG', 'PNG', 'JPEG', 'JP2OpenJPEG']; // Debian's GDAL 3.6: JP2OpenJPEG is its JPEG 2000 driver

describe('the service opens images only with its GDAL drivers', () => {
  test('the default list: NITF, GeoTIFF/COG, PNG, JPEG and the JPEG 2000 driver present; no VRT', () => {
    expect(defaultServiceDrivers()).toEqual(DEFAULT);
  });

  test('TESSERA_GDAL_DRIVERS: names checked against this GDAL, any case, raster drivers only', () => {
    expect(parseDriverList(' nitf,GTIFF ,png,nitf')).toEqual({ drivers: ['NITF', 'GTiff', 'PNG'], problems: [] });
    const { problems } = parseDriverList('NITF,WEBPX,ESRI Shapefile');
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^TESSERA_GDAL_DRIVERS: "WEBPX" is not a raster driver of this GDAL/);
    expect(problems[1]).toMatch(/^TESSERA_GDAL_DRIVERS: "ESRI Shapefile" is not a raster driver of this GDAL/);
    expect(parseDriverList(' , ').problems[0]).toMatch(/^TESSERA_GDAL_DRIVERS names no driver/);
  });

  test('a VRT with a /vsicurl/ source is refused at its header, naming the drivers; nothing is fetched', async () => {
    const err = await describeRaster(curlVrt, { drivers: DEFAULT }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RasterInputError);
    expect((err as Error).message).toContain(`${curlVrt}: not a raster image GDAL can read (`);
    expect((err as Error).message).toContain('this service opens images only with the GDAL drivers NITF, GTiff, COG, PNG, JPEG, JP2OpenJPEG (TESSERA_GDAL_DRIVERS)');
    expect(fetched).toEqual([]);
  });

  test('every other open of an image keeps the list: window reads and band statistics', async () => {
    // A header read without the list (as `tessera run` reads it), then reads that must still refuse the VRT.
    const info = { ...(await describeRaster(curlVrt)), drivers: DEFAULT };
    expect(info.format).toBe('VRT');
    await expect(WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 1, undefined, info.drivers)).rejects.toThrow(/TESSERA_GDAL_DRIVERS/);
    await expect(bandHistograms(info, [0])).rejects.toThrow(/TESSERA_GDAL_DRIVERS/);
    await expect(openRaster(curlVrt, undefined, DEFAULT)).rejects.toThrow(/TESSERA_GDAL_DRIVERS/);
    expect(fetched).toEqual([]);
    // A list that leaves a format out refuses it too (a GeoTIFF with PNG only).
    await expect(bandHistograms({ ...(await describeRaster(tif)), drivers: ['PNG'] }, [0])).rejects.toThrow(/GDAL drivers PNG \(TESSERA_GDAL_DRIVERS\)/);
  });

  test('without a list (tessera run) a VRT opens and reads as GDAL reads it', async () => {
    const info = await describeRaster(localVrt);
    expect(info).toMatchObject({ format: 'VRT', width: 64, height: 64, bandCount: 1 });
    expect(info.drivers).toBeUndefined();
    const [h] = await bandHistograms(info, [0]);
    expect(h).toBeDefined();
  });

  test('every real fixture opens, every image segment too, and its pixels read with the default list', async () => {
    const images = readdirSync(realFixture('')).filter((f) => !/\.(md|geojson)$/.test(f)).sort();
    expect(images.length).toBe(38); // MANIFEST.md: 39 files, one of them the expected GeoJSON
    for (const name of images) {
      const first = await describeRaster(realFixture(name), { drivers: DEFAULT });
      for (let segment = 0; segment < first.imageSegments; segment++) {
        const info = segment === 0 ? first : await describeRaster(realFixture(name), { drivers: DEFAULT, imageSegment: segment });
        expect(info.drivers, name).toEqual(DEFAULT);
        const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 1, undefined, info.drivers);
        try {
          const w = Math.min(info.width, 16), h = Math.min(info.height, 16);
          const bytes = reader.windowBytes({ x: 0, y: 0, width: w, height: h });
          await reader.read({ x: 0, y: 0, width: w, height: h }, { buffer: new SharedArrayBuffer(bytes), byteOffset: 0, byteLength: bytes } as never);
        } finally {
          reader.close();
        }
      }
    }
  });
});
