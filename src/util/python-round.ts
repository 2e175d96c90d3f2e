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
