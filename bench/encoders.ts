/**
 * Per-tile cost of the pixel hot path: 16->8-bit stretch (native vs plain JS)
 * and JPEG/PNG encoding (native vs sharp), at 512² and 2048².
 *
 * Run directly: `npx tsc -p tsconfig.json && node dist/bench/encoders.js`.
 * sharp runs with concurrency 1 so both sides use one core per tile, which is
 * what a worker pool gives each tile anyway.
 */
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';

import sharp from 'sharp';
import gdal from 'gdal-async';
import { encodeTile, type TileCompression, type TileFormat } from '../src/encoding/tile-encoding.js';

import { convertTile, encodeJpeg, encodePng, nativeInfo, type ConvertOptions } from '../src/pixels/native.js';

interface Row {
  op: string;
  size: number;
  impl: string;
  /** Median ms per call. */
  ms: number;
  /** Fastest call: closer to the intrinsic cost when the machine is shared. */
  bestMs: number;
  bytes?: number;
}

const BANDS = 3;
const RANGE: [number, number] = [100, 3800];

/** 12-bit-in-16 band-sequential planes in a SharedArrayBuffer: gradient + noise, like a real window. */
function makeSource(size: number): Uint8Array {
  const sab = new SharedArrayBuffer(size * size * BANDS * 2);
  const samples = new Uint16Array(sab);
  let s = 0x9e3779b9;
  for (let b = 0; b < BANDS; b++) {
    const plane = b * size * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const gradient = ((x + y + b * size) * 4095) / (3 * size);
        samples[plane + y * size + x] = Math.min(4095, gradient + ((s >>> 20) & 255));
      }
    }
  }
  return new Uint8Array(sab);
}

/** The straightforward JS loop this module replaces. */
function stretchJs(source: Uint8Array, size: number, bands: number[], out: Uint8Array): Uint8Array {
  const samples = new Uint16Array(source.buffer, source.byteOffset, source.byteLength / 2);
  const n = size * size;
  const scale = 255 / (RANGE[1] - RANGE[0]);
  for (let k = 0; k < bands.length; k++) {
    const plane = bands[k] * n;
    for (let i = 0, j = k; i < n; i++, j += bands.length) {
      const x = (samples[plane + i] - RANGE[0]) * scale;
      out[j] = x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x);
    }
  }
  return out;
}

/** Median and fastest ms per call; runs at least `minRuns` times and for at least `minMs`. */
async function time(fn: () => unknown, minRuns = 5, minMs = 300): Promise<{ ms: number; bestMs: number }> {
  await fn(); // warm-up (JIT, thread-local encoder state, page faults)
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < minRuns || performance.now() - start < minMs) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
    if (samples.length >= 200) break;
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)], bestMs: samples[0] };
}

const CONTAINERS: Array<[TileFormat, TileCompression, string, string[]]> = [
  ['GTIFF', 'NONE', 'GTiff', []],
  ['GTIFF', 'LZW', 'GTiff', ['COMPRESS=LZW', 'PREDICTOR=2']],
  ['GTIFF', 'DEFLATE', 'GTiff', ['COMPRESS=DEFLATE', 'PREDICTOR=2', 'ZLEVEL=1']],
  ['GTIFF', 'JPEG', 'GTiff', ['COMPRESS=JPEG', 'JPEG_QUALITY=90']],
  ['NITF', 'NONE', 'NITF', ['IC=NC']],
  ['NITF', 'JPEG', 'NITF', ['IC=C3', 'QUALITY=90']],
  ['NITF', 'J2K', 'NITF', ['IC=C8']],
];

function gdalMemDataset(rgb: Uint8Array, size: number): gdal.Dataset {
  const ds = gdal.open('mem', 'w', 'MEM', size, size, 3, 'Byte');
  const plane = new Uint8Array(size * size);
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < plane.length; i++) plane[i] = rgb[i * 3 + b];
    ds.bands.get(b + 1).pixels.write(0, 0, size, size, plane);
  }
  return ds;
}

let vsimemCounter = 0;
function gdalEncode(src: gdal.Dataset, format: string, co: string[]): Buffer {
  const path = `/vsimem/bench-${vsimemCounter++}`;
  gdal.translate(path, src, ['-of', format, ...co.flatMap((o) => ['-co', o])]).close();
  return gdal.vsimem.release(path);
}

export async function benchEncoders(): Promise<Record<string, unknown>> {
  const rows: Row[] = [];
  const previousConcurrency = sharp.concurrency();
  sharp.concurrency(1);
  try {
    for (const size of [512, 2048]) {
      const source = makeSource(size);
      const bands = [2, 1, 0];
      const options: ConvertOptions = {
        width: size, height: size, bandCount: BANDS, dataType: 'UInt16', bands, outputType: 'Byte',
        ranges: bands.map(() => RANGE),
      };
      const convert = async (impl: string, fn: () => unknown) => {
        rows.push({ op: 'convert 16->8 stretch', size, impl, ...(await time(fn)) });
      };
      const reuse = new Uint8Array(size * size * bands.length);
      await convert('native (reused output)', () => convertTile(source, options, reuse));
      await convert('native (new output)', () => convertTile(source, options));
      const jsOut = new Uint8Array(reuse.length);
      await convert('plain JS loop', () => stretchJs(source, size, bands, jsOut));
      if (Buffer.compare(jsOut, convertTile(source, options)) !== 0) throw new Error('bench: JS and native stretch disagree');

      const rgb = convertTile(source, options);
      const raw = { raw: { width: size, height: size, channels: 3 as const } };
      const measure = async (op: string, impl: string, encode: () => Buffer | Promise<Buffer>) => {
        const bytes = (await encode()).length;
        rows.push({ op, size, impl, ...(await time(encode)), bytes });
      };
      await measure('JPEG q90 RGB', 'native (libjpeg-turbo)', () => encodeJpeg(rgb, size, size, 3, 90));
      await measure('JPEG q90 RGB', 'sharp optimiseCoding:false', () => sharp(rgb, raw).jpeg({ quality: 90, optimiseCoding: false }).toBuffer());
      await measure('JPEG q90 RGB', 'sharp default', () => sharp(rgb, raw).jpeg({ quality: 90 }).toBuffer());
      await measure('PNG RGB 8-bit', `native (${nativeInfo().pngDefaults})`, () => encodePng(rgb, size, size, 3, 8));
      await measure('PNG RGB 8-bit', 'native level=6 filter=paeth', () => encodePng(rgb, size, size, 3, 8, 6, 'paeth'));
      await measure('PNG RGB 8-bit', 'sharp default', () => sharp(rgb, raw).png().toBuffer());
      await measure('PNG RGB 8-bit', 'sharp compressionLevel:1', () => sharp(rgb, raw).png({ compressionLevel: 1 }).toBuffer());
      // Container formats: Tessera's writers (run in workers) next to GDAL writing the same tile to /vsimem
      // (what OSML's tile factory does, on the main thread).
      const mem = gdalMemDataset(rgb, size);
      const tile = { width: size, height: size, channels: 3, sampleType: 'Byte' as const };
      for (const [format, compression, gdalFormat, co] of CONTAINERS) {
        const encoding = { format, compression, quality: 90, maxPayloadBytes: 0 };
        try {
          await measure(`${format} ${compression}`, 'tessera', () => Buffer.from(encodeTile({ pixels: rgb, ...tile }, encoding)));
        } catch (err) {
          rows.push({ op: `${format} ${compression}`, size, impl: `tessera: ${(err as Error).message}`, ms: NaN, bestMs: NaN });
        }
        await measure(`${format} ${compression}`, 'GDAL translate', () => gdalEncode(mem, gdalFormat, co));
      }
    }
  } finally {
    sharp.concurrency(previousConcurrency);
  }
  return {
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavg: loadavg(), node: process.version, sharpConcurrency: 1 },
    native: nativeInfo(),
    rows,
  };
}

function printTable(rows: Row[]): void {
  const header = ['op', 'size', 'impl', 'median ms', 'best ms', 'KiB'];
  const lines = rows.map((r) => [
    r.op, `${r.size}²`, r.impl, r.ms.toFixed(2), r.bestMs.toFixed(2), r.bytes === undefined ? '' : (r.bytes / 1024).toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores (numbers inflate when the machine is shared)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchEncoders();
  printTable(result.rows as Row[]);
}
