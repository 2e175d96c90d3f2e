/**
 * Python's `round(x, ndigits)` for floats: the result is the double nearest to the decimal value of `x` rounded to
 * `ndigits` places, where the rounding looks at the exact binary value of `x` and breaks exact ties to even.
 * (JS toFixed breaks ties away from zero, and `Math.round(x * 10 ** n) / 10 ** n` rounds the product, not `x`.)
 * The centerpoint polygon is compared by exact equality in OSML's expected results, so this must match.
 */
export function pythonRound(x: number, ndigits: number): number {
  if (!Number.isFinite(x) || !Number.isInteger(ndigits) || ndigits < 0 || ndigits > 20) return x;
  // From 2^52 on every double is an integer, so there is nothing to round.
  if (Math.abs(x) >= 2 ** 52) return x;
  // Fast path: when the scaled value is clearly not near a tie, its nearest integer k is the correctly rounded one
  // (the product's error is half an ulp), and k / 10^n, both exact doubles, divides to the double nearest k·10^-n.
  const scale = POWERS_OF_TEN[ndigits];
  const p = Math.abs(x) * scale;
  if (p < 2 ** 52) {
    const k = Math.floor(p);
    const f = p - k;
    if (Math.abs(f - 0.5) > p * 2 ** -50 + 2 ** -60) {
      const magnitude = (f < 0.5 ? k : k + 1) / scale;
      return x < 0 ? -magnitude : magnitude;
    }
  }
  return exactRound(x, ndigits);
}

const POWERS_OF_TEN = Array.from({ length: 21 }, (_, n) => 10 ** n);

/** The exact path, from the double's full decimal expansion (also the reference the fast path is tested against). */
export function exactRound(x: number, ndigits: number): number {
  // toFixed(100) prints the exact decimal expansion of every double in this range with at least 48 fractional
  // bits; a smaller double is below 1e-14, far from any tie at <= 20 digits, so the truncation cannot matter.
  const exact = Math.abs(x).toFixed(100);
  const [integerPart, fraction] = exact.split('.') as [string, string];
  const kept = fraction.slice(0, ndigits);
  const rest = fraction.slice(ndigits);
  const digits = integerPart + kept; // the value scaled by 10^ndigits, truncated, as a digit string
  let roundUp: boolean;
  if (rest[0] === undefined || rest[0] < '5') {
    roundUp = false;
  } else if (rest[0] > '5' || /[1-9]/.test(rest.slice(1))) {
    roundUp = true;
  } else {
    // Exact tie: round half to even on the last kept digit.
    roundUp = Number(digits[digits.length - 1]) % 2 === 1;
  }
  const scaled = roundUp ? incrementDecimalString(digits) : digits;
  const text = ndigits === 0 ? scaled : `${scaled.slice(0, -ndigits) || '0'}.${scaled.slice(-ndigits)}`;
  const magnitude = Number(text); // the nearest double to the decimal result, as Python returns
  return x < 0 ? -magnitude : magnitude;
}

/** Adds one to a non-negative integer written as a decimal digit string (no precision limit). */
function incrementDecimalString(digits: string): string {
  const chars = digits.split('');
  let i = chars.length - 1;
  while (i >= 0) {
    if (chars[i] === '9') {
      chars[i] = '0';
      i -= 1;
    } else {
      chars[i] = String(Number(chars[i]) + 1);
      return chars.join('');
    }
  }
  return `1${chars.join('')}`;
}
