// The short summary of why tiles failed (src/state/tile-failures.ts): grouped by reason without the tile label,
// the most common first with one tile each, combined over regions, and bounded in size whatever the region.
import { describe, expect, test } from 'vitest';
import { combineTileFailures, describeTileFailures, MAX_REASON_CHARS, TileFailureTally } from '../src/state/tile-failures.js';

describe('tile failure summaries', () => {
  test('grouped by the reason without its tile label, most common first, at most 3 kept', () => {
    const t = new TileFailureTally();
    t.add('(0, 0)(512, 512)', '(0, 0)(512, 512): timeout');
    t.add('(0, 384)(512, 512)', 'tile (0, 384)(512, 512): HTTP 500');
    t.add('(384, 0)(512, 512)', '(384, 0)(512, 512): HTTP 500');
    t.add('(384, 384)(512, 512)', 'no label here');
    t.add('(768, 0)(512, 512)', '(768, 0)(512, 512): HTTP 400');
    expect(t.top()).toEqual([
      { reason: 'HTTP 500', count: 2, tile: '(0, 384)(512, 512)' },
      { reason: 'timeout', count: 1, tile: '(0, 0)(512, 512)' },
      { reason: 'no label here', count: 1, tile: '(384, 384)(512, 512)' },
    ]);
  });

  test('a reason is kept short', () => {
    const t = new TileFailureTally();
    t.add('(0, 0)(1, 1)', `(0, 0)(1, 1): ${'x'.repeat(5000)}\n\n  and more`);
    const [r] = t.top();
    expect(r.reason).toHaveLength(MAX_REASON_CHARS);
    expect(r.reason.endsWith('…')).toBe(true);
  });

  test('described: every tile failed, or how many; the reasons; what the named ones leave out', () => {
    expect(describeTileFailures({ failed: 9, total: 9, reasons: [{ reason: 'refused', count: 9, tile: '(0, 0)(512, 512)' }] })).toBe('every tile failed (9 of 9); most often (9): (0, 0)(512, 512): refused');
    expect(describeTileFailures({ failed: 5, total: 20, reasons: [{ reason: 'a', count: 3, tile: 't1' }, { reason: 'b', count: 1, tile: 't2' }] })).toBe('5 of 20 tiles failed; most often (3): t1: a; then (1): t2: b; 1 more for other reasons');
    expect(describeTileFailures({ failed: 1, total: 1, reasons: [] })).toBe('every tile failed (1 of 1); 1 more for other reasons');
  });

  test('combined over regions: counts added, the same reason merged, its first tile kept', () => {
    const combined = combineTileFailures([
      { failed: 2, total: 4, reasons: [{ reason: 'refused', count: 2, tile: 'r1t1' }] },
      { failed: 4, total: 4, reasons: [{ reason: 'HTTP 400', count: 1, tile: 'r2t1' }, { reason: 'refused', count: 3, tile: 'r2t2' }] },
      { failed: 0, total: 4, reasons: [] },
    ]);
    expect(combined).toEqual({ failed: 6, total: 12, reasons: [{ reason: 'refused', count: 5, tile: 'r1t1' }, { reason: 'HTTP 400', count: 1, tile: 'r2t1' }] });
  });
});
