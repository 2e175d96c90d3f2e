// `npm run demo`: makes a georeferenced sample image with GDAL (a 3072x2048 RGB GeoTIFF over Pearl Harbor, with a
// pattern so tiles differ), then runs the real CLI on it with the built-in centerpoint model and shows the result.
import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import gdal from 'gdal-async';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'demo');
mkdirSync(dir, { recursive: true });
const image = join(dir, 'sample-utm.tif');
if (!existsSync(image)) {
  const width = 3072, height = 2048;
  const ds = gdal.open(image, 'w', 'GTiff', width, height, 3, 'Byte', ['TILED=YES', 'COMPRESS=DEFLATE']);
  ds.srs = gdal.SpatialReference.fromEPSG(32604); // UTM 4N: exercises reprojection to WGS84
  ds.geoTransform = [609000, 0.5, 0, 2362000, 0, -0.5];
  const row = new Uint8Array(width * 256);
  for (let b = 1; b <= 3; b++) {
    for (let y0 = 0; y0 < height; y0 += 256) {
      for (let y = 0; y < 256; y++) for (let x = 0; x < width; x++) row[y * width + x] = ((x >> 3) * b + ((y0 + y) >> 3) * (4 - b) + ((x * y) & 31)) & 255;
      ds.bands.get(b).pixels.write(0, y0, width, 256, row);
    }
  }
  ds.close();
}
const out = join(dir, 'sample-utm.geojson');
const cli = join(root, 'bin', 'tessera.js');
const args = ['run', image, '--model', 'builtin:centerpoint', '--tile-size', '512', '--overlap', '128', '--tile-format', 'PNG', '--out', out];
console.log(`$ tessera ${args.join(' ')}`);
const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env: { ...process.env, ENABLE_SEGMENTATION: 'true' } });
if (r.status !== 0) process.exit(r.status ?? 1);
const fc = JSON.parse(readFileSync(out, 'utf8'));
const f = fc.features[0];
console.log(`\n${fc.features.length} features written to ${out}; the first one:`);
console.log(JSON.stringify({ imageBBox: f.properties.imageBBox, bbox: f.bbox, center: [f.properties.center_longitude, f.properties.center_latitude], geometry: f.geometry.type }, null, 1));
