import { describe, it, expect } from 'vitest';
import { createSensorModel } from '../src/geolocation/sensor-model.js';
import { parseRoi, roiToBounds } from '../src/geolocation/roi.js';
import { describeRaster } from '../src/raster/raster-source.js';

const real = (name: string) => new URL(`../../shared/fixtures/real/${name}`, import.meta.url).pathname;

describe('sensor model from a geotransform', () => {
  it('applies i_3001a.ntf geotransform (EPSG:4326) directly, as in the OSML expected output', async () => {
    const info = await describeRaster(real('i_3001a.ntf'));
    const model = createSensorModel(info.georeference!);
    // center_longitude/latitude of the expected feature whose hexagon is centred on pixel (281.6, 537.6)
    const [lon, lat] = model.imageToWorld(281.6, 537.6);
    expect(lon).toBeCloseTo(85.00007632779406, 12);
    expect(lat).toBeCloseTo(32.983187493211695, 12);
  });

  it('reprojects UTM 18N (RGB.byte.tif) to WGS84 like gdaltransform', async () => {
    const info = await describeRaster(real('RGB.byte.tif'));
    const model = createSensorModel(info.georeference!);
    // Values from `gdaltransform -t_srs EPSG:4326 -output_xy RGB.byte.tif` (GDAL 3.6.2 / PROJ).
    const cases: [number, number, number, number][] = [
      [0, 0, -78.958649965394, 25.5060873856566],
      [791, 718, -76.5749237001378, 23.6059469554315],
      [395.5, 359, -77.7579062525457, 24.5615832853328],
    ];
    for (const [x, y, lon, lat] of cases) {
      const [gotLon, gotLat] = model.imageToWorld(x, y);
      expect(gotLon).toBeCloseTo(lon, 8);
      expect(gotLat).toBeCloseTo(lat, 8);
      const [bx, by] = model.worldToImage(lon, lat);
      expect(bx).toBeCloseTo(x, 5);
      expect(by).toBeCloseTo(y, 5);
    }
  });

  it('applies the TOWGS84 datum shift of a Bessel geographic CRS (GeogToWGS84GeoKey5.tif)', async () => {
    const info = await describeRaster(real('GeogToWGS84GeoKey5.tif'));
    const [lon, lat] = createSensorModel(info.georeference!).imageToWorld(50, 50);
    // gdaltransform -t_srs EPSG:4326: 8.99998611528355 52.0000138927097 (the shift moves it ~1e-3 degrees)
    expect(lon).toBeCloseTo(8.99998611528355, 8);
    expect(lat).toBeCloseTo(52.0000138927097, 8);
  });

  it('handles a Web Mercator COG (cogeo.tif)', async () => {
    const info = await describeRaster(real('cogeo.tif'));
    const [lon, lat] = createSensorModel(info.georeference!).imageToWorld(100, 200);
    expect(lon).toBeCloseTo(128.655931949392, 8);
    expect(lat).toBeCloseTo(37.6699281431009, 8);
  });
});

describe('sensor model from GCPs', () => {
  const corners = [
    { pixel: 0, line: 0, x: 10, y: 50, z: 0 },
    { pixel: 1000, line: 0, x: 10.02, y: 50.001, z: 0 },
    { pixel: 1000, line: 800, x: 10.021, y: 49.99, z: 0 },
    { pixel: 0, line: 800, x: 9.999, y: 49.989, z: 0 },
  ];

  it('is exact at four corner GCPs and inverts', () => {
    const model = createSensorModel({ kind: 'gcps', gcps: corners, crs: null });
    for (const g of corners) {
      const [lon, lat] = model.imageToWorld(g.pixel, g.line);
      expect(lon).toBeCloseTo(g.x, 10);
      expect(lat).toBeCloseTo(g.y, 10);
      const [px, py] = model.worldToImage(g.x, g.y);
      expect(px).toBeCloseTo(g.pixel, 6);
      expect(py).toBeCloseTo(g.line, 6);
    }
  });

  it('reproduces an affine mapping exactly in between (a projective model contains the affine ones)', () => {
    const affine = (c: number, r: number) => ({ x: 20 + c * 1e-4 + r * 2e-5, y: 40 - r * 1e-4 + c * 1e-5 });
    const gcps = [[0, 0], [500, 0], [500, 400], [0, 400], [250, 100]].map(([c, r]) => ({ pixel: c, line: r, ...affine(c, r), z: 0 }));
    const [lon, lat] = createSensorModel({ kind: 'gcps', gcps, crs: null }).imageToWorld(123, 321);
    expect(lon).toBeCloseTo(affine(123, 321).x, 10);
    expect(lat).toBeCloseTo(affine(123, 321).y, 10);
  });

  it('falls back to an affine fit when corner GCPs coincide after arc-second rounding (cropped_sicd_120.nitf)', async () => {
    const info = await describeRaster(real('cropped_sicd_120.nitf'));
    const model = createSensorModel(info.georeference!);
    // GDAL's GCPs: (0.5,0.5) and (4.5,0.5) -> (12.2277778, 47.8980556); (4.5,4.5) and (0.5,4.5) -> (12.2275, 47.8980556).
    // Least squares: lon depends on the line only, 12.2277778 at line 0.5 to 12.2275 at line 4.5.
    const [lon, lat] = model.imageToWorld(2.5, 2.5);
    expect(lon).toBeCloseTo((12.227777777777778 + 12.227500000000001) / 2, 10);
    expect(lat).toBeCloseTo(47.89805555555556, 10);
  });

  it('rejects degenerate GCPs (sar_sicd.ntf repeats one point four times)', async () => {
    const info = await describeRaster(real('sar_sicd.ntf'));
    expect(info.georeference?.kind).toBe('gcps');
    expect(() => createSensorModel(info.georeference!)).toThrow(/degenerate/);
  });
});

describe('region of interest', () => {
  it('maps a lon/lat polygon to pixel bounds with Python rounding (i_3001a.ntf)', async () => {
    const info = await describeRaster(real('i_3001a.ntf'));
    const model = createSensorModel(info.georeference!);
    const gt = (info.georeference as { geoTransform: number[] }).geoTransform;
    const at = (x: number, y: number) => `${gt[0] + x * gt[1]} ${gt[3] + y * gt[5]}`;
    // Pixels (100.4, 100.6) .. (600.5, 400.5): round-half-even gives x 100, y 101, width round(500.1)=500,
    // height round(299.9)=300.
    const wkt = `POLYGON ((${at(100.4, 100.6)}, ${at(600.5, 100.6)}, ${at(600.5, 400.5)}, ${at(100.4, 400.5)}, ${at(100.4, 100.6)}))`;
    expect(roiToBounds(parseRoi(wkt), model, info.width, info.height)).toEqual({ x: 100, y: 101, width: 500, height: 300 });
  });

  it('clips to the image and rejects an ROI outside it', async () => {
    const info = await describeRaster(real('i_3001a.ntf'));
    const model = createSensorModel(info.georeference!);
    const big = 'POLYGON ((84 32, 86 32, 86 34, 84 34, 84 32))';
    expect(roiToBounds(parseRoi(big), model, info.width, info.height)).toEqual({ x: 0, y: 0, width: 1024, height: 1024 });
    expect(() => roiToBounds(parseRoi('POLYGON ((10 10, 11 10, 11 11, 10 11, 10 10))'), model, info.width, info.height)).toThrow(/does not intersect the image/);
  });

  it('rejects WKT that is not a lon/lat polygon', () => {
    expect(() => parseRoi('POLYGON ((1 2, 3')).toThrow(/not valid WKT/);
    expect(() => parseRoi('POLYGON((85 32, 86 32, 86 33, 85 33))')).toThrow('polygon ring is not closed: it starts at (85 32) and ends at (85 33)');
    expect(() => parseRoi('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 2))')).toThrow('polygon ring is not closed: it starts at (1 1) and ends at (1 2)');
    expect(parseRoi('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 2, 1 1))')).toHaveLength(1);
    expect(() => parseRoi('POINT (1 2)')).toThrow(/POLYGON or MULTIPOLYGON/);
    expect(() => parseRoi('POLYGON ((500000 4000000, 500100 4000000, 500100 4000100, 500000 4000000))')).toThrow(/not a longitude\/latitude/);
  });
});
