// Dense ids for fixed-width integer tuples (overlap keys). A JS Map keyed by strings or by large packed numbers
// costs hundreds of milliseconds per million lookups; this open-addressing table on typed arrays is several times
// faster and has no range limits on the components (int32).

export class KeyTable {
  private keys: Int32Array;
  private ids: Int32Array; // -1 = empty slot
  private mask: number;
  private count = 0;

  constructor(
    private readonly width: number,
    expected = 1024,
  ) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * width);
    this.ids = new Int32Array(capacity).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  /** The id of `tuple` (its first `width` values), assigning `next()` when the tuple is new. */
  idOf(tuple: Int32Array, next: () => number): number {
    if (this.count * 2 >= this.ids.length) this.grow();
    const width = this.width;
    let slot = this.hash(tuple, 0) & this.mask;
    for (;;) {
      const id = this.ids[slot]!;
      if (id < 0) {
        const fresh = next();
        this.ids[slot] = fresh;
        for (let c = 0; c < width; c++) this.keys[slot * width + c] = tuple[c]!;
        this.count++;
        return fresh;
      }
      if (this.matches(slot, tuple)) return id;
      slot = (slot + 1) & this.mask;
    }
  }

  private matches(slot: number, tuple: Int32Array): boolean {
    const base = slot * this.width;
    for (let c = 0; c < this.width; c++) if (this.keys[base + c] !== tuple[c]) return false;
    return true;
  }

  private hash(values: Int32Array, offset: number): number {
    let h = 0x811c9dc5;
    for (let c = 0; c < this.width; c++) h = Math.imul(h ^ values[offset + c]!, 0x01000193);
    h ^= h >>> 15;
    return Math.imul(h, 0x2c1b3c6d) ^ (h >>> 12);
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldIds = this.ids;
    const capacity = oldIds.length * 2;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * this.width);
    this.ids = new Int32Array(capacity).fill(-1);
    for (let s = 0; s < oldIds.length; s++) {
      if (oldIds[s]! < 0) continue;
      let slot = this.hash(oldKeys, s * this.width) & this.mask;
      while (this.ids[slot]! >= 0) slot = (slot + 1) & this.mask;
      this.ids[slot] = oldIds[s]!;
      for (let c = 0; c < this.width; c++) this.keys[slot * this.width + c] = oldKeys[s * this.width + c]!;
    }
  }
}
