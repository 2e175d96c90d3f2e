/**
 * Random sources for the test models. Models take an `Rng` argument instead of calling Math.random so that
 * they stay pure and unit tests can use a seeded generator.
 */

/** A uniform random number generator on [0, 1), like Math.random. */
export type Rng = () => number;

/** The default generator: Math.random (the test models need no cryptographic quality). */
export const defaultRng: Rng = Math.random;

/** A small deterministic generator (mulberry32) for reproducible tests. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [low, high) like Python's random.randrange(low, high); throws on an empty range as Python does. */
export function randomInt(rng: Rng, low: number, high: number): number {
  if (!(high > low)) throw new RangeError(`empty range for randrange(${low}, ${high})`);
  return low + Math.floor(rng() * (high - low));
}

/** Lower-case hex string of `byteCount` random bytes, like Python's secrets.token_hex. */
export function randomHex(rng: Rng, byteCount: number): string {
  let hex = '';
  for (let i = 0; i < byteCount; i += 1) {
    hex += Math.floor(rng() * 256).toString(16).padStart(2, '0');
  }
  return hex;
}

/** Normal deviate (Box-Muller), like Python's random.gauss(mean, std). */
export function gaussian(rng: Rng, mean: number, std: number): number {
  const u1 = 1 - rng(); // (0, 1]: keeps log() finite
  const u2 = rng();
  return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
