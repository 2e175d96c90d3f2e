/**
 * A fixed pool of tile slots in one SharedArrayBuffer. The main thread reads raster windows straight into a slot and
 * hands the worker only the slot's handle; the worker releases the slot as soon as the pixels are converted. The
 * pool's size is the bound on pixel memory, whatever the image size.
 *
 * Ownership is tracked with a ticket per slot in a shared Int32Array: 0 = free, otherwise the ticket of the tile that
 * holds it. Only the main thread acquires; a release is a compare-and-swap on the ticket, so a late or duplicate
 * release (a worker crash being cleaned up after the worker already released) can never free a slot that was
 * handed to another tile since.
 */
export interface SlotHandle {
  /** The pool's pixel memory (shared, never copied when posted to a worker). */
  buffer: SharedArrayBuffer;
  /** The pool's control words (slot tickets + a release counter). */
  control: SharedArrayBuffer;
  index: number;
  ticket: number;
  byteOffset: number;
  byteLength: number;
}

const RELEASES = 0; // control word counting releases, the main thread waits on it when the pool is full

export class SlotPool {
  readonly slotBytes: number;
  readonly slotCount: number;
  private readonly buffer: SharedArrayBuffer;
  private readonly control: SharedArrayBuffer;
  private readonly tickets: Int32Array;
  private nextTicket = 1;
  private closed = false;

  constructor(slotCount: number, slotBytes: number) {
    if (!Number.isInteger(slotCount) || slotCount < 1) throw new RangeError(`slot count must be a positive integer, got ${slotCount}`);
    if (!Number.isInteger(slotBytes) || slotBytes < 1) throw new RangeError(`slot size must be a positive integer, got ${slotBytes}`);
    // Slots start on 8-byte boundaries so Float64 views over a slot are aligned.
    this.slotBytes = Math.ceil(slotBytes / 8) * 8;
    this.slotCount = slotCount;
    this.buffer = new SharedArrayBuffer(this.slotBytes * slotCount);
    this.control = new SharedArrayBuffer(4 * (slotCount + 1));
    this.tickets = new Int32Array(this.control);
  }

  get totalBytes(): number {
    return this.buffer.byteLength;
  }

  /** Slots currently held. */
  get inUse(): number {
    let n = 0;
    for (let i = 0; i < this.slotCount; i++) if (Atomics.load(this.tickets, i + 1) !== 0) n++;
    return n;
  }

  /** Resolves with a free slot, waiting (without blocking the event loop) until a worker releases one. */
  async acquire(): Promise<SlotHandle> {
    for (;;) {
      if (this.closed) throw new Error('slot pool is closed');
      const seen = Atomics.load(this.tickets, RELEASES);
      for (let i = 0; i < this.slotCount; i++) {
        if (Atomics.load(this.tickets, i + 1) === 0) {
          const ticket = this.nextTicket;
          this.nextTicket = this.nextTicket >= 0x7ffffffe ? 1 : this.nextTicket + 1;
          Atomics.store(this.tickets, i + 1, ticket);
          return {
            buffer: this.buffer,
            control: this.control,
            index: i,
            ticket,
            byteOffset: i * this.slotBytes,
            byteLength: this.slotBytes,
          };
        }
      }
      const wait = Atomics.waitAsync(this.tickets, RELEASES, seen);
      if (wait.async) await wait.value;
    }
  }

  /** Main-thread release (e.g. a read failed before the slot reached a worker). */
  release(handle: SlotHandle): boolean {
    return releaseSlot(handle);
  }

  /** Wakes a waiting acquire so it can observe closing. */
  close(): void {
    this.closed = true;
    Atomics.add(this.tickets, RELEASES, 1);
    Atomics.notify(this.tickets, RELEASES);
  }
}

/** Releases a slot from any thread; true when this call freed it, false if it was already released. */
export function releaseSlot(handle: Pick<SlotHandle, 'control' | 'index' | 'ticket'>): boolean {
  const tickets = new Int32Array(handle.control);
  const freed = Atomics.compareExchange(tickets, handle.index + 1, handle.ticket, 0) === handle.ticket;
  if (freed) {
    Atomics.add(tickets, RELEASES, 1);
    Atomics.notify(tickets, RELEASES);
  }
  return freed;
}

/** A byte view over a slot's pixels (no copy). */
export function slotBytes(handle: Pick<SlotHandle, 'buffer' | 'byteOffset' | 'byteLength'>, length = handle.byteLength): Uint8Array {
  return new Uint8Array(handle.buffer, handle.byteOffset, length);
}
