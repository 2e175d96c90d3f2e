// TIFF LZW encoder (TIFF 6.0 section 13) producing the code stream libtiff writes: codes packed MSB-first, a
// ClearCode (256) first, EndOfInformation (257) last, code width 9..12 bits widened one code early ("early change",
// which every TIFF LZW reader expects), and a ClearCode when the table is full. No npm package encodes TIFF LZW (the
// TIFF-specific ones only decode), so it lives here. Runs in tile workers.
//
// Speed (Node 20, one core, min of runs on a shared 2-core VM): 12 ms for 786 KB (a 512² RGB tile), 250 ms for
// 12.6 MB (2048² RGB), about 1.2-1.7x libtiff's C encoder on the same data; whole GTIFF tiles: see gtiff.ts.

const CLEAR_CODE = 256;
const EOI_CODE = 257;
const FIRST_CODE = 258;
/** libtiff starts over once the next free code would be 4094 (CODE_MAX - 1). */
const TABLE_FULL = 4094;
const MIN_BITS = 9;

// The string table maps (prefix code, next byte) -> code through an open-addressing hash of 2^14 slots (at most 3836
// strings live at once, so probes stay short) that fits in L2 cache: twice as fast as a direct 2^20-entry table, whose
// random accesses miss the cache. A slot's key is generation << 20 | prefix << 8 | byte, so clearing the table is a
// generation bump; slots of older generations count as empty. Allocated once per worker thread.
const HASH_BITS = 14;
const HASH_MASK = (1 << HASH_BITS) - 1;
const MAX_GENERATION = 2046; // generation << 20 stays a positive int32
let slotKeys: Int32Array | undefined;
let slotCodes: Uint16Array | undefined;
let generation = 0;

function nextGeneration(): number {
  if (slotKeys === undefined || generation >= MAX_GENERATION) {
    slotKeys ??= new Int32Array(1 << HASH_BITS);
    slotCodes ??= new Uint16Array(1 << HASH_BITS);
    slotKeys.fill(0);
    generation = 0;
  }
  return ++generation;
}

/** Worst-case output size: every code is at most 12 bits and stands for at least one byte, plus Clear/EOI codes. */
export function lzwMaxEncodedBytes(inputBytes: number): number {
  const codes = inputBytes + Math.ceil(inputBytes / (TABLE_FULL - FIRST_CODE)) + 3;
  return Math.ceil((codes * 12) / 8) + 1;
}

/** Compresses one strip or tile. */
export function lzwEncode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(lzwMaxEncodedBytes(input.length));
  let gen = nextGeneration();
  const keys = slotKeys!;
  const codes = slotCodes!;
  let stamp = gen << 20;
  let o = 0;
  let acc = 0; // pending bits, right-aligned; never more than 7 + 12
  let accBits = 0;
  let nbits = MIN_BITS;
  let maxCode = (1 << MIN_BITS) - 1;
  let free = FIRST_CODE;

  // Code writer, inlined by hand in the hot loop below; this closure serves the rare codes.
  const put = (code: number): void => {
    acc = (acc << nbits) | code;
    accBits += nbits;
    while (accBits >= 8) {
      accBits -= 8;
      out[o++] = acc >>> accBits;
    }
    acc &= (1 << accBits) - 1;
  };

  put(CLEAR_CODE);
  const n = input.length;
  if (n > 0) {
    let ent = input[0];
    for (let i = 1; i < n; i++) {
      const c = input[i];
      const key = (ent << 8) | c;
      const tagged = stamp | key;
      let slot = Math.imul(key, 0x9e3779b1) >>> (32 - HASH_BITS);
      let found = false;
      for (;;) {
        const k = keys[slot];
        if (k === tagged) {
          found = true;
          break;
        }
        if (k >>> 20 !== gen) break; // empty or stale: the string is not in the table
        slot = (slot + 1) & HASH_MASK;
      }
      if (found) {
        ent = codes[slot];
        continue;
      }
      // Emit the longest match and add match + c as a new string.
      acc = (acc << nbits) | ent;
      accBits += nbits;
      while (accBits >= 8) {
        accBits -= 8;
        out[o++] = acc >>> accBits;
      }
      acc &= (1 << accBits) - 1;
      keys[slot] = tagged;
      codes[slot] = free;
      ent = c;
      free++;
      if (free === TABLE_FULL) {
        put(CLEAR_CODE);
        gen = nextGeneration();
        stamp = gen << 20;
        free = FIRST_CODE;
        nbits = MIN_BITS;
        maxCode = (1 << MIN_BITS) - 1;
      } else if (free > maxCode) {
        nbits++;
        maxCode = (1 << nbits) - 1;
      }
    }
    put(ent);
    // The decoder adds one more entry after this code, so the width of EOI follows that entry (as in libtiff).
    free++;
    if (free === TABLE_FULL) {
      put(CLEAR_CODE);
      nbits = MIN_BITS;
    } else if (free > maxCode) {
      nbits++;
    }
  }
  put(EOI_CODE);
  if (accBits > 0) out[o++] = (acc << (8 - accBits)) & 0xff;
  return out.subarray(0, o);
}
