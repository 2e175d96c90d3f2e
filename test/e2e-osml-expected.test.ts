// The real input/expected-output pair from OSML: i_3001a.ntf (= OSML's meta.ntf) with the centerpoint model,
// compared under the upstream validator's rules (../shared/fixtures/real/MANIFEST.md).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startModelServerCli, realFixture, tempDir, repoRoot } from './helpers/cli.js';

interface F {
  geometry: { type: string; coordinates: unknown };
  properties: Record<string, any>;
}

const round6 = (v: unknown): unknown => (Array.isArray(v) ? v.map(round6) : typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v);

function compareToExpected(actual: F[], expected: F[]) {
  expect(actual).toHaveLength(expected.length);
  const key = (f: F) => JSON.stringify(f.properties.imageGeometry);
  const byGeometry = new Map(actual.map((f) => [key(f), f]));
  for (const e of expected) {
    const a = byGeometry.get(key(e));
    expect(a, `no feature with imageGeometry ${key(e)}`).toBeDefined();
    expect(a!.geometry.type).toBe(e.geometry.type);
    expect(round6(a!.geometry.coordinates)).toEqual(round6(e.geometry.coordinates));
    expect(round6(a!.properties.imageGeometry.coordinates)).toEqual(round6(e.properties.imageGeometry.coordinates));
    expect(a!.properties.featureClasses).toEqual(e.properties.featureClasses);
    expect(Math.abs(a!.properties.center_longitude - e.properties.center_longitude)).toBeLessThanOrEqual(1e-8);
    expect(Math.abs(a!.properties.center_latitude - e.properties.center_latitude)).toBeLessThanOrEqual(1e-8);
    const strip = (m: Record<string, unknown>[]) => m.map(({ location: _l, sourceDT: _d, ...rest }) => rest);
    expect(strip(a!.properties.sourceMetadata)).toEqual(strip(e.properties.sourceMetadata));
    expect(a!.properties.inferenceMetadata.jobId).toMatch(/\S/);
  }
}

describe('i_3001a.ntf reproduces OSML centerpoint.meta.ntf.geojson', () => {
  let server: Awaited<ReturnType<typeof startModelServerCli>>;
  const expected = JSON.parse(readFileSync(realFixture('centerpoint.meta.ntf.geojson'), 'utf8')).features as F[];
  beforeAll(async () => {
    server = await startModelServerCli({ ENABLE_SEGMENTATION: 'true' });
  });
  afterAll(async () => server?.stop());

  for (const format of ['NITF', 'GTIFF', 'PNG', 'JPEG']) {
    it(`through the CLI with ${format} tiles`, async () => {
      const out = join(tempDir(), 'out.geojson');
      const args = ['run', realFixture('i_3001a.ntf'), '--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=centerpoint', '--tile-size', '512', '--overlap', '128', '--out', out];
      if (format !== 'NITF') args.push('--tile-format', format);
      const r = await runCli(args);
      expect(r.stderr).toContain('9 tiles, 0 failed');
      expect(r.code).toBe(0);
      const fc = JSON.parse(readFileSync(out, 'utf8'));
      expect(fc.type).toBe('FeatureCollection');
      compareToExpected(fc.features, expected);
    });
  }

  it('works as `npx tessera` from the repository root', async () => {
    const out = join(tempDir(), 'npx.geojson');
    const r = await runCli(['run', realFixture('i_3001a.ntf'), '--model', `${server.url}/invocations`, '--custom-attributes', 'model_selection=centerpoint', '--tile-size', '512', '--overlap', '128', '--out', out], { command: ['npx', '--no-install', 'tessera'], cwd: repoRoot });
    expect(r.code, r.stderr).toBe(0);
    compareToExpected(JSON.parse(readFileSync(out, 'utf8')).features, expected);
  });
});
