// Stable argsort of scores, highest first. Comparator sorts of a million indices take about a second in V8; an LSD
// radix sort over the float64 bit patterns takes a few tens of milliseconds and is stable, so equal scores keep
// their input order.

const RADIX_MIN_LENGTH = 512; // below this a comparator sort is cheaper than clearing 65536-entry histograms
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1; // the radix path reads float64 words

/** Positions 0..n-1 ordered by descending `keys[p]`; equal keys (and +0/-0) keep ascending position order. */
export function argsortDescending(keys: ArrayLike<number>): Int32Array {
  const n = keys.length;
  const order = new Int32Array(n);
  for (let p = 0; p < n; p++) order[p] = p;
  if (n < RADIX_MIN_LENGTH || !LITTLE_ENDIAN) {
    order.sort((a, b) => descending(keys[a]!, keys[b]!) || a - b);
    return order;
  }
  return radixDescending(keys, order);
}

function descending(a: number, b: number): number {
  return a > b ? -1 : a < b ? 1 : 0;
}

function radixDescending(keys: ArrayLike<number>, order: Int32Array): Int32Array {
  const n = order.length;
  // Map each float64 to two uint32 words whose unsigned order is the *descending* float order.
  const f64 = new Float64Array(n);
  for (let p = 0; p < n; p++) f64[p] = keys[p]! + 0; // + 0 folds -0 into +0
  const bits = new Uint32Array(f64.buffer); // little-endian: bits[2p] low word, bits[2p + 1] high word
  let lo: Uint32Array = new Uint32Array(n);
  let hi: Uint32Array = new Uint32Array(n);
  for (let p = 0; p < n; p++) {
    const h = bits[2 * p + 1]!;
    const l = bits[2 * p]!;
    // ascending-sortable: negative -> flip all bits, positive -> set the sign bit; then invert for descending.
    if (h & 0x80000000) {
      hi[p] = h;
      lo[p] = l;
    } else {
      hi[p] = ~(h | 0x80000000) >>> 0;
      lo[p] = ~l >>> 0;
    }
  }

  let idx: Int32Array = order;
  let idx2: Int32Array = new Int32Array(n);
  let lo2: Uint32Array = new Uint32Array(n);
  let hi2: Uint32Array = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const words = pass < 2 ? lo : hi;
    const shift = pass % 2 === 0 ? 0 : 16;
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[(words[k]! >>> shift) & 0xffff]!++;
    if (counts[(words[0]! >>> shift) & 0xffff] === n) continue; // all keys share this digit: nothing would move
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const to = counts[(words[k]! >>> shift) & 0xffff]!++;
      idx2[to] = idx[k]!;
      lo2[to] = lo[k]!;
      hi2[to] = hi[k]!;
    }
    [idx, idx2] = [idx2, idx];
    [lo, lo2] = [lo2, lo];
    [hi, hi2] = [hi2, hi];
  }
  return idx;
}
