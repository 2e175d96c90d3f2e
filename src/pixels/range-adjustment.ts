/**
 * Range adjustment (the OSML imagery toolkit's definitions), as per-band [min, max] pairs that the native
 * conversion maps linearly onto the output type's full range.
 *
 * - MINMAX: the band's actual minimum..maximum.
 * - DRA: clip points at 2 % and 98 % of the cumulative histogram, widened by 0.2 of the inner range below and 0.4
 *   above, clamped to the actual minimum..maximum.
 */
export const RANGE_ADJUSTMENTS = ['NONE', 'MINMAX', 'DRA'] as const;
export type RangeAdjustment = (typeof RANGE_ADJUSTMENTS)[number];

/** A histogram of one band: counts[i] holds values in [first + i*step, first + (i+1)*step). */
export interface Histogram {
  counts: Float64Array | Uint32Array;
  first: number;
  step: number;
}

export function minMaxRange(h: Histogram): [number, number] {
  const { lo, hi } = occupied(h);
  return nonDegenerate([h.first + lo * h.step, h.first + hi * h.step]);
}

/** A constant band has min == max: widen by one so the stretch is defined (the constant maps to 0). */
function nonDegenerate([min, max]: [number, number]): [number, number] {
  return max > min ? [min, max] : [min, min + 1];
}

export function draRange(h: Histogram, minPercentage = 0.02, maxPercentage = 0.98, a = 0.2, b = 0.4): [number, number] {
  const { lo, hi } = occupied(h);
  const actualMin = h.first + lo * h.step, actualMax = h.first + hi * h.step;
  let total = 0;
  for (const c of h.counts) total += c;
  // numpy.searchsorted(cumulative, total * p) with side='left': first bucket whose cumulative count reaches it.
  const search = (target: number) => {
    let cum = 0;
    for (let i = 0; i < h.counts.length; i++) {
      cum += h.counts[i];
      if (cum >= target) return i;
    }
    return h.counts.length - 1;
  };
  const eMin = h.first + search(total * minPercentage) * h.step;
  const eMax = h.first + search(total * maxPercentage) * h.step;
  const inner = eMax - eMin;
  return nonDegenerate([Math.max(actualMin, eMin - a * inner), Math.min(actualMax, eMax + b * inner)]);
}

function occupied(h: Histogram): { lo: number; hi: number } {
  let lo = -1, hi = -1;
  for (let i = 0; i < h.counts.length; i++) {
    if (h.counts[i] > 0) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  if (lo < 0) throw new RangeError('histogram is empty: the band has no valid pixels');
  return { lo, hi };
}

/** Builds the histogram of samples: one bucket per integer value for integer data, 4096 buckets otherwise. */
export function histogramOf(samples: ArrayLike<number>, integer: boolean, noData: number | null = null): Histogram {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    if (v === noData || Number.isNaN(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return { counts: new Float64Array(1), first: 0, step: 1 };
  const first = integer ? min : min;
  const buckets = integer ? max - min + 1 : 4096;
  const step = integer ? 1 : (max - min) / (buckets - 1) || 1;
  const counts = new Float64Array(buckets);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    if (v === noData || Number.isNaN(v)) continue;
    counts[Math.min(buckets - 1, Math.floor((v - first) / step))]++;
  }
  return { counts, first, step };
}
