import { describe, it, expect } from 'vitest';
import { centroid, roundHalfEven } from '../src/features/geojson.js';
import { refineFeatures, imageBoundsOf, topClass } from '../src/features/refine.js';
import { finalizeFeature, nitfDateTimeToIso, nitfSourceMetadata } from '../src/features/output.js';
import { createSensorModel } from '../src/geolocation/sensor-model.js';

describe('Python-compatible rounding', () => {
  it('rounds exact binary ties to even and everything else to nearest', () => {
    expect(roundHalfEven(0.0078125, 6)).toBe(0.007812); // 1/128 is an exact tie at the 7th decimal
    expect(roundHalfEven(0.0234375, 6)).toBe(0.023438); // 3/128: tie, 7 is odd -> up to 8
    expect(roundHalfEven(-0.0078125, 6)).toBe(-0.007812);
    expect(roundHalfEven(85.0000763277941, 6)).toBe(85.000076);
    expect(roundHalfEven(2.5, 0)).toBe(2);
    expect(roundHalfEven(3.5, 0)).toBe(4);
    expect(roundHalfEven(0.125, 2)).toBe(0.12);
    expect(roundHalfEven(0.375, 2)).toBe(0.38);
    expect(roundHalfEven(1.005, 2)).toBe(1); // 1.005 is 1.00499999999999989... in binary
  });
});

describe('centroid', () => {
  it('is area-weighted for polygons and ignores repeated closing vertices', () => {
    // OSML's centerpoint hexagon for a 512 tile (ring closed twice)
    const ring = [[281.6, 307.2], [259.4297, 294.4], [259.4297, 268.8], [281.6, 256.0], [303.7703, 268.8], [303.7703, 294.4], [281.6, 307.2], [281.6, 307.2]];
    const [x, y] = centroid({ type: 'Polygon', coordinates: [ring] })!;
    expect(x).toBeCloseTo(281.6, 9);
    expect(y).toBeCloseTo(281.6, 9);
  });
  it('subtracts holes: a 10x10 square with a 2x2 hole at its corner', () => {
    const outer = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]];
    const hole = [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]];
    // (100*5 - 4*1) / 96 = 496/96
    const [x, y] = centroid({ type: 'Polygon', coordinates: [outer, hole] })!;
    expect(x).toBeCloseTo(496 / 96, 12);
    expect(y).toBeCloseTo(496 / 96, 12);
  });
  it('uses points and lines when there is no area', () => {
    expect(centroid({ type: 'Point', coordinates: [3, 4] })).toEqual([3, 4]);
    expect(centroid({ type: 'LineString', coordinates: [[0, 0], [4, 0], [4, 2]] })).toEqual([(2 * 4 + 4 * 2) / 6, (0 * 4 + 1 * 2) / 6]);
  });
});

describe('feature refinement (tile pixels -> image pixels -> WGS84)', () => {
  const gt = [84.999999864233729, 0.00000027153253, 0, 32.983333469099598, 0, -0.00000027153253];
  const model = createSensorModel({ kind: 'geotransform', geoTransform: gt, crs: null });
  const hexagon = [[281.6, 307.2], [259.4297, 294.4], [259.4297, 268.8], [281.6, 256.0], [303.7703, 268.8], [303.7703, 294.4], [281.6, 307.2], [281.6, 307.2]];

  it('moves imageBBox/imageGeometry by the tile origin and geolocates them', () => {
    const raw = [{ type: 'Feature', id: 'abc', geometry: null, properties: { imageBBox: [204.8, 204.8, 307.2, 307.2], imageGeometry: { type: 'Polygon', coordinates: [hexagon] }, featureClasses: [{ iri: 'sample_object', score: 1.0 }], image_id: 'x' } }];
    const [f] = refineFeatures(raw, { tileX: 0, tileY: 256, inferenceTime: Date.UTC(2025, 9, 22, 17, 16, 41), sensorModel: model });
    expect(f.id).toBe('abc');
    expect(f.properties.imageBBox).toEqual([204.8, 460.8, 307.2, 563.2]);
    // First vertex and values straight from centerpoint.meta.ntf.geojson
    expect((f.properties.imageGeometry as { coordinates: number[][][] }).coordinates[0][0]).toEqual([281.6, 563.2]);
    expect((f.geometry as { coordinates: number[][][] }).coordinates[0].slice(0, 2)).toEqual([[85.000076, 32.983181, 0], [85.00007, 32.983184, 0]]);
    // bbox: the imageBBox corners through the geotransform. (OSML's file has [249.43, 502, ...] in pixel terms:
    // its 11x11 interpolation grid spans the geometry + 10 px and clamps the imageBBox corners to it; bbox is
    // not part of OSML's comparison rules and Tessera writes the true box.)
    expect(f.bbox![0]).toBeCloseTo(gt[0] + 204.8 * gt[1], 12);
    expect(f.bbox![1]).toBeCloseTo(gt[3] + 563.2 * gt[5], 12);
    expect(f.bbox![2]).toBeCloseTo(gt[0] + 307.2 * gt[1], 12);
    expect(f.bbox![3]).toBeCloseTo(gt[3] + 460.8 * gt[5], 12);
    expect(f.properties.center_longitude).toBeCloseTo(85.00007632779406, 11);
    expect(f.properties.center_latitude).toBeCloseTo(32.983187493211695, 11);
    expect(f.properties.inferenceTime).toBe('2025-10-22T17:16:41Z');
  });

  it('a feature with only a box gets the box outline on the ground as its geometry', () => {
    const [f] = refineFeatures([{ type: 'Feature', geometry: null, properties: { imageBBox: [0, 0, 100, 50] } }], { tileX: 0, tileY: 256, inferenceTime: 0, sensorModel: model });
    expect(f.properties.imageGeometry).toBeUndefined();
    const ring = (f.geometry as { type: string; coordinates: number[][][] }).coordinates[0];
    expect((f.geometry as { type: string }).type).toBe('Polygon');
    // Corners (0,256) (100,256) (100,306) (0,306) through the geotransform: lon = gt0 + x*gt1, lat = gt3 + y*gt5.
    const expected = [[0, 256], [100, 256], [100, 306], [0, 306], [0, 256]].map(([x, y]) => [gt[0] + x * gt[1], gt[3] + y * gt[5]]);
    expect(ring).toHaveLength(5);
    ring.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i][0], 6);
      expect(p[1]).toBeCloseTo(expected[i][1], 6);
    });
  });

  it('maps deprecated properties as OSML does', () => {
    const raw = [
      { type: 'Feature', geometry: null, properties: { bounds_imcoords: [1, 2, 3, 4], feature_types: { ship: 0.7, boat: 0.2 } } },
      { type: 'Feature', geometry: null, properties: { geom_imcoords: [[0, 0], [10, 0], [10, 10], [0, 0]] } },
      { type: 'Feature', geometry: null, properties: { detection: { type: 'Point', pixelCoordinates: [5, 6] } } },
    ];
    const [a, b, c] = refineFeatures(raw, { tileX: 100, tileY: 1000, inferenceTime: 0, sensorModel: null });
    expect(a.properties.imageGeometry).toEqual({ type: 'Polygon', coordinates: [[[103, 1002], [103, 1004], [101, 1004], [101, 1002], [103, 1002]]] });
    expect(a.properties.featureClasses).toEqual([{ iri: 'ship', score: 0.7 }, { iri: 'boat', score: 0.2 }]);
    expect(b.properties.imageGeometry).toEqual({ type: 'Polygon', coordinates: [[[100, 1000], [110, 1000], [110, 1010], [100, 1000]]] });
    expect(b.properties.imageBBox).toEqual([100, 1000, 110, 1010]);
    expect(c.properties.imageGeometry).toEqual({ type: 'Point', coordinates: [105, 1006] });
    expect(a.geometry).toBeNull();
    expect(topClass(a)).toEqual({ label: 'ship', score: 0.7 });
    expect(topClass(b)).toEqual({ label: '', score: -1 });
    expect(imageBoundsOf(a)).toEqual([101, 1002, 103, 1004]);
  });

  it('rejects features that are not features, naming which one', () => {
    expect(() => refineFeatures([{ type: 'Feature', properties: {} }, { type: 'Nope' }], { tileX: 0, tileY: 0, inferenceTime: 0, sensorModel: null })).toThrow(/features\[1\] is not a GeoJSON Feature/);
    expect(() => refineFeatures([{ type: 'Feature', properties: { imageBBox: [1, 2] } }], { tileX: 0, tileY: 0, inferenceTime: 0, sensorModel: null })).toThrow(/features\[0\]\.properties\.imageBBox/);
  });

  it('rejects a box whose minimum is greater than its maximum, naming the feature; an empty box is accepted', () => {
    const ctx = { tileX: 0, tileY: 0, inferenceTime: 0, sensorModel: null };
    const box = (imageBBox: number[]) => [{ type: 'Feature', geometry: null, properties: { imageBBox: [0, 0, 1, 1] } }, { type: 'Feature', geometry: null, properties: { imageBBox } }];
    expect(() => refineFeatures(box([1e308, 1e308, -1e308, 5]), ctx)).toThrow('features[1].properties.imageBBox [1e+308,1e+308,-1e+308,5] is not [minx, miny, maxx, maxy]: a minimum is greater than its maximum');
    expect(() => refineFeatures(box([10, 20, 30, 19]), ctx)).toThrow(/features\[1\]\.properties\.imageBBox \[10,20,30,19\] is not/);
    expect(refineFeatures(box([10, 20, 10, 20]), ctx)[1].properties.imageBBox).toEqual([10, 20, 10, 20]);
  });
});

describe('output properties', () => {
  it('builds NITF sourceMetadata from ICAT, FTITLE and IDATIM', () => {
    expect(nitfDateTimeToIso('19961217102630')).toBe('1996-12-17T10:26:30Z');
    // NITF 2.0 DDhhmmssZMONYY (U_3002A.NTF)
    expect(nitfDateTimeToIso('01224428ZMAR93')).toBe('1993-03-01T22:44:28Z');
    expect(nitfDateTimeToIso('--------------')).toBe('--------------');
    expect(nitfSourceMetadata('a.ntf', { NITF_FHDR: 'NITF02.10', NITF_ICAT: 'VIS', NITF_FTITLE: 'Title ', NITF_IDATIM: '19961217102630' })).toEqual({ location: 'a.ntf', format: 'NITF', category: 'VIS', sourceId: 'Title', sourceDT: '1996-12-17T10:26:30Z' });
    expect(nitfSourceMetadata('a.tif', {})).toBeNull();
  });
  it('adds inferenceMetadata, merges featureProperties in order and drops internal properties', () => {
    const f = finalizeFeature({ type: 'Feature', geometry: null, properties: { inferenceTime: '2025-01-01T00:00:00Z', image_id: 'x', feature_types: {}, a: 1, b: 1 } }, 'job1', [{ a: 2 }, { a: 3, c: 4 }]);
    expect(f.properties).toEqual({ a: 3, b: 1, c: 4, inferenceMetadata: { jobId: 'job1', inferenceDT: '2025-01-01T00:00:00Z' } });
  });
});

describe('Soft-NMS scores in the output', () => {
  it('writes the decayed score into the top class and keeps the original as rawScore', async () => {
    const { deduplicate } = await import('../src/pipeline/run-image.js');
    const { planTiling } = await import('../src/tiling/index.js');
    const plan = planTiling({ bounds: { x: 0, y: 0, width: 1024, height: 1024 }, tileSize: { width: 512, height: 512 }, overlap: { width: 128, height: 128 }, regionSize: { width: 10240, height: 10240 } });
    const feature = (box: number[], score: number) => ({ type: 'Feature' as const, geometry: null, properties: { imageBBox: box, featureClasses: [{ iri: 'ship', score }] } });
    // Both boxes lie in the tile overlap (x 256..512 at stride 256), so they are compared. Intersection 20x40 = 800,
    // union 2400: IoU 1/3; gaussian decay exp(-(1/9)/0.1) = 0.329193 -> 0.8 * 0.329193 = 0.263354.
    const kept = deduplicate([feature([300, 10, 340, 50], 0.9), feature([320, 10, 360, 50], 0.8)], plan, { algorithm: 'SOFT_NMS', iouThreshold: 0.75, sigma: 0.1, skipBoxThreshold: 0.0001 });
    const classes = kept.map((f) => (f.properties.featureClasses as { score: number; rawScore?: number }[])[0]);
    expect(classes[0]).toEqual({ iri: 'ship', score: 0.9 });
    expect(classes[1].rawScore).toBe(0.8);
    expect(classes[1].score).toBeCloseTo(0.8 * Math.exp(-(1 / 9) / 0.1), 12);
  });
});
