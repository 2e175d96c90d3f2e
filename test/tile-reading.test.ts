import { describe, expect, test } from 'vitest';
import { RowPlan, slotCountFor, tileRows } from '../src/pipeline/process-tiles.js';
import type { Window } from '../src/tiling/window.js';

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

  test('the last row left is taken by whichever stream asks; every row is handed out exactly once', () => {
    for (const [rows, streams] of [[1, 2], [3, 2], [7, 3], [2, 4], [0, 2]] as const) {
      const plan = new RowPlan(rowsOf(rows), streams);
      const seen: number[] = [];
      for (let k = 0, idle = 0; idle < streams; k = (k + 1) % streams) {
        const row = plan.next(k);
        if (row) {
          seen.push(rowNumber(row)!);
          idle = 0;
        } else idle++;
      }
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: rows }, (_, i) => i));
    }
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
