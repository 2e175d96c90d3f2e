// A max-heap of (id, score) entries for Soft-NMS, where a score is updated by pushing a new entry and readers skip
// stale ones. Equal scores go to the lower id (Soft-NMS passes initial ranks), so the order is deterministic.

export class ScoreHeap {
  private ids: Int32Array;
  private scores: Float64Array;
  private length = 0;

  constructor(capacity = 16) {
    this.ids = new Int32Array(Math.max(1, capacity));
    this.scores = new Float64Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.length;
  }

  private before(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    return sa > sb || (sa === sb && this.ids[a]! < this.ids[b]!);
  }

  private swap(a: number, b: number): void {
    const p = this.ids[a]!;
    this.ids[a] = this.ids[b]!;
    this.ids[b] = p;
    const s = this.scores[a]!;
    this.scores[a] = this.scores[b]!;
    this.scores[b] = s;
  }

  push(id: number, score: number): void {
    if (this.length === this.ids.length) {
      const ids = new Int32Array(this.length * 2);
      ids.set(this.ids);
      this.ids = ids;
      const scores = new Float64Array(this.length * 2);
      scores.set(this.scores);
      this.scores = scores;
    }
    let i = this.length++;
    this.ids[i] = id;
    this.scores[i] = score;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Score of the top entry (undefined when empty). */
  peekScore(): number | undefined {
    return this.length > 0 ? this.scores[0] : undefined;
  }

  /** Removes the top entry and returns its id (-1 when empty); read its score with peekScore first. */
  pop(): number {
    if (this.length === 0) return -1;
    const top = this.ids[0]!;
    const last = --this.length;
    if (last > 0) {
      this.ids[0] = this.ids[last]!;
      this.scores[0] = this.scores[last]!;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= last) break;
        const right = left + 1;
        const child = right < last && this.before(right, left) ? right : left;
        if (!this.before(child, i)) break;
        this.swap(i, child);
        i = child;
      }
    }
    return top;
  }
}
