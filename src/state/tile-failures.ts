/**
 * Why a region's or an image's tiles failed, kept short: the counts and the most common reasons, each with one tile
 * it happened to. Stored on the region item (`tile_failures`, JSON, a few hundred bytes whatever the region's size)
 * when the region completes, and combined over the regions into the job's final message, so a FAILED or PARTIAL job
 * says why ("every tile failed (9 of 9); most often (9): (0, 0)(512, 512): could not reach model at ...").
 */

export interface TileFailureReason {
  /** The error without its tile label. */
  reason: string;
  /** Tiles that failed with exactly this reason. */
  count: number;
  /** One of them (OSML's tile label `(row, col)(w, h)`), or `region (row, col)(w, h)` for a region failed as a whole. */
  tile: string;
}

export interface TileFailureSummary {
  /** Failed tiles (a tile without a recorded success counts as failed, as the region's failed_tile_count). */
  failed: number;
  total: number;
  /** The most common reasons, most common first (at most MAX_REASONS); their counts may add up to less than `failed`. */
  reasons: TileFailureReason[];
  /** The region failed as a whole (its image could not be opened, its deliveries ran out ...), not tile by tile. */
  regionFailed?: true;
}

/** Reasons kept per summary, and characters per reason: a region item stays small. */
export const MAX_REASONS = 3;
export const MAX_REASON_CHARS = 300;

/** A reason as stored: whitespace collapsed, at most MAX_REASON_CHARS. */
export function clipReason(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= MAX_REASON_CHARS ? t : `${t.slice(0, MAX_REASON_CHARS - 1)}…`;
}

/** Counts tile failures by reason while a region runs. */
export class TileFailureTally {
  private readonly byReason = new Map<string, { count: number; tile: string }>();

  /** `error` usually starts with the tile's label ("(0, 0)(512, 512): ..." or "tile (0, 0)(512, 512): ..."): grouped without it. */
  add(tile: string, error: string): void {
    const prefix = [`${tile}: `, `tile ${tile}: `].find((p) => error.startsWith(p));
    const reason = clipReason(prefix ? error.slice(prefix.length) : error);
    const entry = this.byReason.get(reason);
    if (entry) entry.count++;
    else this.byReason.set(reason, { count: 1, tile });
  }

  top(): TileFailureReason[] {
    return topReasons([...this.byReason].map(([reason, { count, tile }]) => ({ reason, count, tile })));
  }
}

function topReasons(reasons: TileFailureReason[]): TileFailureReason[] {
  return [...reasons].sort((a, b) => b.count - a.count).slice(0, MAX_REASONS);
}

/** The summary of the regions' summaries: counts added up, reasons merged by their text. */
export function combineTileFailures(summaries: readonly TileFailureSummary[]): TileFailureSummary {
  const merged = new Map<string, TileFailureReason>();
  for (const s of summaries) {
    for (const r of s.reasons) {
      const m = merged.get(r.reason);
      if (m) m.count += r.count;
      else merged.set(r.reason, { ...r });
    }
  }
  return {
    failed: summaries.reduce((n, s) => n + s.failed, 0),
    total: summaries.reduce((n, s) => n + s.total, 0),
    reasons: topReasons([...merged.values()]),
  };
}

/** `every tile failed (9 of 9); most often (9): (0, 0)(512, 512): why` / `2 of 9 tiles failed; most often (1): ...; then (1): ...`. */
export function describeTileFailures(s: TileFailureSummary): string {
  if (s.total === 0) return 'no tiles to process';
  const head = s.failed >= s.total ? `every tile failed (${s.failed} of ${s.total})` : `${s.failed} of ${s.total} tile${s.total === 1 ? '' : 's'} failed`;
  const parts = s.reasons.map((r, i) => `${i === 0 ? 'most often' : 'then'} (${r.count}): ${r.tile}: ${r.reason}`);
  const named = s.reasons.reduce((n, r) => n + r.count, 0);
  if (s.failed > named) parts.push(`${s.failed - named} more for other reasons`);
  return [head, ...parts].join('; ');
}

/** The summary stored on a region item, if any (an item written before summaries existed has none). */
export function storedTileFailures(item: { tile_failures?: unknown }): TileFailureSummary | undefined {
  if (typeof item.tile_failures !== 'string') return undefined;
  try {
    const s = JSON.parse(item.tile_failures) as TileFailureSummary;
    return typeof s.failed === 'number' && typeof s.total === 'number' && Array.isArray(s.reasons) ? s : undefined;
  } catch {
    return undefined;
  }
}
