import { describe, expect, test } from 'vitest';
import { RowPlan, slotCountFor, tileRows } from '../src/pipeline/process-tiles.js';
import type { Window } from '../src/tiling/window.js';
import gdal from 'gdal-async';
import { describeRaster } from '../src/raster/raster-source.js';
import { WindowReader } from '../src/raster/window-reader.js';
import type { SlotHandle } from '../src/raster/slot-pool.js';
import { realFixture } from './helpers/cli.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tile = (x: number, y: number, size = 512): Window => ({ x, y, width: size, height: size });

/** Rows of 3 tiles at y = 0, 384, 768, ...: the row number is y / 384. */
const rowsOf = (n: number) => tileRows(Array.from({ length: n * 3 }, (_, i) => tile((i % 3) * 384, Math.floor(i / 3) * 384)));
const rowNumber = (row: Window[] | undefined) => (row ? row[0].y / 384 : undefined);

describe('tile rows', () => {
  test('consecutive tiles with the same top edge and height form a row; a new region starts a new row', () => {
    const tiles = [tile(0, 0), tile(384, 0), tile(0, 384), tile(384, 384), tile(10240, 0), tile(10624, 0), tile(0, 768, 256)];
    expect(tileRows(tiles).map((r) => r.map((t) => [t.x, t.y]))).toEqual([
      [[0, 0], [384, 0]],
      [[0, 384], [384, 384]],
      [[10240, 0], [10624, 0]],
      [[0, 768]],
    ]);
  });
});

describe('RowPlan: contiguous runs of rows per read stream', () => {
  test('two streams read the top and the bottom half, each top to bottom', () => {
    const plan = new RowPlan(rowsOf(10), 2);
    const got: Array<[number, number | undefined]> = [];
    for (let i = 0; i < 5; i++) for (const s of [0, 1]) got.push([s, rowNumber(plan.next(s))]);
    expect(got).toEqual([[0, 0], [1, 5], [0, 1], [1, 6], [0, 2], [1, 7], [0, 3], [1, 8], [0, 4], [1, 9]]);
    expect(plan.next(0)).toBeUndefined();
    expect(plan.next(1)).toBeUndefined();
  });

  test('a stream that runs out takes the bottom half of the longest run left', () => {
    const plan = new RowPlan(rowsOf(10), 2);
    // stream 1 is slow: it reads row 5 only while stream 0 reads its whole run 0..4
    expect(rowNumber(plan.next(1))).toBe(5);
    expect([0, 1, 2, 3, 4].map(() => rowNumber(plan.next(0)))).toEqual([0, 1, 2, 3, 4]);
    // rows 6..9 are left with stream 1: stream 0 takes 8 and 9, stream 1 keeps 6 and 7
    expect(rowNumber(plan.next(0))).toBe(8);
    expect(rowNumber(plan.next(1))).toBe(6);
    expect(rowNumber(plan.next(0))).toBe(9);
    expect(rowNumber(plan.next(1))).toBe(7);
    expect(plan.next(0)).toBeUndefined();
    expect(plan.next(1)).toBeUndefined();
  });

  test('the last row left is taken by whichever stream asks; every tile is handed out exactly once', () => {
    for (const [rows, streams] of [[1, 2], [3, 2], [7, 3], [2, 4], [0, 2]] as const) {
      const plan = new RowPlan(rowsOf(rows), streams);
      const seen: string[] = [];
      for (let k = 0, idle = 0; idle < streams; k = (k + 1) % streams) {
        const row = plan.next(k);
        if (row) {
          seen.push(...row.map((t) => `${t.x},${t.y}`));
          idle = 0;
        } else idle++;
      }
      expect(seen.sort()).toEqual(rowsOf(rows).flat().map((t) => `${t.x},${t.y}`).sort());
    }
  });
});

describe('RowPlan: fewer rows than streams', () => {
  test('one row of 5 tiles for 2 streams: each stream reads a run of neighbouring tiles', () => {
    const row = Array.from({ length: 5 }, (_, i) => tile(i * 384, 0));
    const plan = new RowPlan([row], 2);
    const xs = (r: Window[] | undefined) => r?.map((t) => t.x / 384);
    expect([xs(plan.next(0)), xs(plan.next(1)), plan.next(0), plan.next(1)]).toEqual([[0, 1], [2, 3, 4], undefined, undefined]);
  });

  test('3 rows for 4 streams: every stream gets work, every tile once', () => {
    const plan = new RowPlan(rowsOf(3), 4);
    const got = [0, 1, 2, 3].map((s) => plan.next(s));
    expect(got.every((r) => r !== undefined && r.length > 0)).toBe(true);
    const rest: Window[][] = [];
    for (let r = plan.next(0); r; r = plan.next(0)) rest.push(r);
    const seen = [...got, ...rest].flatMap((r) => r!.map((t) => `${t.x},${t.y}`)).sort();
    expect(seen).toEqual(rowsOf(3).flat().map((t) => `${t.x},${t.y}`).sort());
  });
});

describe('slot pool size', () => {
  test('2 per worker + 2, fewer for big tiles so the pool stays within 128 MB, never under 2', () => {
    const mb = 2 ** 20;
    expect(slotCountFor(2, 512 * 512)).toBe(6); // 512² 1-band 8-bit: 0.25 MB a slot
    expect(slotCountFor(2, 2048 * 2048 * 3)).toBe(6); // 12 MB: 6 slots are 72 MB
    expect(slotCountFor(2, 2048 * 2048 * 4 * 2)).toBe(4); // 32 MB: 4 fit in 128 MB
    expect(slotCountFor(2, 2048 * 2048 * 8 * 2)).toBe(2); // 64 MB: 2
    expect(slotCountFor(2, 8192 * 8192 * 4 * 2)).toBe(2); // 512 MB: a tile this big still needs 2
    expect(slotCountFor(8, 10 * mb)).toBe(12); // 18 wanted, 12 fit
    expect(slotCountFor(2, 10 * mb, 1)).toBe(2);
    expect(slotCountFor(2, 10 * mb, 20)).toBe(20);
  });
});

describe('WindowReader streams', () => {
  const slot = (bytes: number): SlotHandle => ({ buffer: new SharedArrayBuffer(bytes), control: new SharedArrayBuffer(8), index: 0, ticket: 1, byteOffset: 0, byteLength: bytes });

  test('reads of one stream go through one handle in order; closing fails the reads still waiting, not the one reading', async () => {
    const info = await describeRaster(realFixture('i_3001a.ntf'));
    const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 2);
    const w = (y: number): Window => ({ x: 0, y, width: 256, height: 256 });
    // The same pixels as GDAL gives for the window, read with a handle of its own.
    const direct = new Uint8Array(256 * 256);
    gdal.open(info.gdalPath).bands.get(1).pixels.read(0, 512, 256, 256, direct);
    const slots = [slot(65536), slot(65536), slot(65536)];
    const reads = [reader.read(w(512), slots[0], 0), reader.read(w(0), slots[1], 0), reader.read(w(256), slots[2], 2)];
    reader.close();
    const outcomes = await Promise.allSettled(reads);
    expect(outcomes[0].status).toBe('fulfilled');
    expect(Buffer.compare(Buffer.from(new Uint8Array(slots[0].buffer)), Buffer.from(direct))).toBe(0);
    // stream 2 is handle 0 as well (2 % 2): both waited behind the first read
    expect(outcomes.slice(1).map((o) => (o.status === 'rejected' ? String(o.reason.message) : 'fulfilled'))).toEqual([`reader of ${info.gdalPath} is closed`, `reader of ${info.gdalPath} is closed`]);
    await expect(reader.read(w(0), slots[1], 1)).rejects.toThrow('is closed');
  });

  test('a damaged image never reads as fill: a truncated JPEG NITF fails its reads instead of returning zeros', async () => {
    // i_3309a.ntf cut to 300,000 of its 722,432 bytes (a copy: the shared fixture is never written). GDAL's NITF
    // driver fails the first read of such a dataset and, on the same dataset, then returns its missing JPEG blocks
    // as zeros without an error; gdal_translate of the copy fails on every block.
    const dir = mkdtempSync(join(tmpdir(), 'tessera-trunc-'));
    try {
      const original = realFixture('i_3309a.ntf');
      const truncated = join(dir, 'truncated.ntf');
      writeFileSync(truncated, readFileSync(original).subarray(0, 300_000));
      const info = await describeRaster(truncated);
      const reader = await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, 1);
      const intact = gdal.open(original).bands.get(1);
      const outcomes: string[] = [];
      for (let y = 0; y < info.height; y += 256) {
        for (let x = 0; x < info.width; x += 256) {
          const window: Window = { x, y, width: 256, height: 256 };
          const s = slot(65536);
          try {
            await reader.read(window, s, 0);
          } catch (err) {
            outcomes.push('failed');
            expect((err as Error).message).toContain(`reading ${truncated} at row ${y}, column ${x} (256x256 pixels) failed:`);
            continue;
          }
          // A read that succeeds must hold the image's true pixels, as the intact file has them.
          const truth = new Uint8Array(65536);
          intact.pixels.read(x, y, 256, 256, truth);
          expect(Buffer.compare(Buffer.from(new Uint8Array(s.buffer)), Buffer.from(truth)), `window at row ${y}, column ${x}`).toBe(0);
          outcomes.push('read');
        }
      }
      reader.close();
      expect(outcomes).toHaveLength(64);
      expect(outcomes.filter((o) => o === 'failed').length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
