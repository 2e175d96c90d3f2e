// Which detections take part in a selection run, and how they split into independent buckets.

export interface SelectionScope {
  /** Indices of the detections to consider (default: all). Equal scores are ordered by position in this list. */
  items?: ArrayLike<number>;
  /**
   * Group id per detection, indexed by detection index: detections interact only within the same group (and, as
   * always, the same label). Lets one call run the algorithm over many overlap groups at once.
   */
  groups?: ArrayLike<number>;
}

export function scopeItems(scope: SelectionScope, count: number): Int32Array {
  if (scope.items) return Int32Array.from(scope.items);
  const all = new Int32Array(count);
  for (let i = 0; i < count; i++) all[i] = i;
  return all;
}

/** values[items[p]] for every position p: per-run copies of per-detection values. */
export function itemValues<T extends Float64Array | Int32Array>(values: T, items: ArrayLike<number>, make: (n: number) => T): T {
  const out = make(items.length);
  for (let p = 0; p < items.length; p++) out[p] = values[items[p]!]!;
  return out;
}

/** Positions grouped into buckets (CSR): bucket b holds members[offsets[b] .. offsets[b + 1]). */
export interface Buckets {
  offsets: Int32Array;
  members: Int32Array;
}

/**
 * Counting sort of `order` into buckets given a dense bucket id per entry of `order` (ids 0..bucketCount-1);
 * the order inside each bucket is kept.
 */
export function bucketsFromIds(order: Int32Array, bucketOf: Int32Array, bucketCount: number): Buckets {
  const offsets = new Int32Array(bucketCount + 1);
  for (let k = 0; k < order.length; k++) offsets[bucketOf[k]! + 1]!++;
  for (let b = 0; b < bucketCount; b++) offsets[b + 1]! += offsets[b]!;
  const fill = offsets.slice(0, bucketCount);
  const members = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) members[fill[bucketOf[k]!]!++] = order[k]!;
  return { offsets, members };
}

/**
 * Split positions (given in processing order) by group, keeping that order inside each bucket; buckets are numbered
 * by first appearance. Without groups everything is one bucket.
 */
export function groupBuckets(order: Int32Array, items: Int32Array, groups: ArrayLike<number> | undefined): Buckets {
  const n = order.length;
  if (!groups) return { offsets: Int32Array.of(0, n), members: order };
  let max = -1;
  let dense = true;
  for (let k = 0; k < n; k++) {
    const g = groups[items[order[k]!]!]!;
    if (!Number.isInteger(g) || g < 0) dense = false;
    else if (g > max) max = g;
  }
  const bucketOf = new Int32Array(n);
  let bucketCount = 0;
  if (dense && max < 4 * n + 1024) {
    // Small non-negative integer ids (as overlap grouping produces): renumber through an array.
    const ids = new Int32Array(max + 1).fill(-1);
    for (let k = 0; k < n; k++) {
      const g = groups[items[order[k]!]!]!;
      if (ids[g]! < 0) ids[g] = bucketCount++;
      bucketOf[k] = ids[g]!;
    }
  } else {
    const ids = new Map<number, number>();
    for (let k = 0; k < n; k++) {
      const g = groups[items[order[k]!]!]!;
      let b = ids.get(g);
      if (b === undefined) ids.set(g, (b = bucketCount++));
      bucketOf[k] = b;
    }
  }
  return bucketsFromIds(order, bucketOf, bucketCount);
}
