// The tile slot pool bounds pixel memory: acquiring waits while every slot is held, a worker thread's release wakes
// the waiter, and a stale release (a ticket from an earlier holder) can never free a slot someone else holds now.
import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { SlotPool, releaseSlot, slotBytes } from '../src/raster/slot-pool.js';

describe('SlotPool', () => {
  it('holds a fixed amount of memory and waits for a free slot', async () => {
    const pool = new SlotPool(2, 1000);
    expect(pool.slotBytes).toBe(1000);
    expect(pool.totalBytes).toBe(2000);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(pool.inUse).toBe(2);
    let third = false;
    const pending = pool.acquire().then((s) => {
      third = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(third).toBe(false);
    expect(releaseSlot(a)).toBe(true);
    const c = await pending;
    expect(c.index).toBe(a.index);
    expect(pool.inUse).toBe(2);
    pool.release(b);
    pool.release(c);
    expect(pool.inUse).toBe(0);
  });

  it('rounds slots up to 8-byte boundaries so Float64 views are aligned', () => {
    const pool = new SlotPool(3, 1001);
    expect(pool.slotBytes).toBe(1008);
  });

  it('ignores a stale release after the slot was handed to another tile', async () => {
    const pool = new SlotPool(1, 16);
    const first = await pool.acquire();
    expect(releaseSlot(first)).toBe(true);
    const second = await pool.acquire();
    expect(releaseSlot(first)).toBe(false); // the first holder's late cleanup
    expect(pool.inUse).toBe(1);
    expect(releaseSlot(second)).toBe(true);
  });

  it('a worker thread sees the pixels without a copy and its release wakes the main thread', async () => {
    const pool = new SlotPool(1, 8);
    const slot = await pool.acquire();
    slotBytes(slot).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const waiting = pool.acquire();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const s = workerData;
       const view = new Uint8Array(s.buffer, s.byteOffset, 8);
       const sum = view.reduce((a, b) => a + b, 0);
       view[0] = 99; // written through shared memory
       const t = new Int32Array(s.control);
       Atomics.compareExchange(t, s.index + 1, s.ticket, 0);
       Atomics.add(t, 0, 1);
       Atomics.notify(t, 0);
       parentPort.postMessage(sum);`,
      { eval: true, workerData: { buffer: slot.buffer, control: slot.control, index: slot.index, ticket: slot.ticket, byteOffset: slot.byteOffset } },
    );
    const sum = await new Promise((r) => worker.once('message', r));
    expect(sum).toBe(36);
    const next = await waiting;
    expect(slotBytes(next)[0]).toBe(99);
    await worker.terminate();
  });
});
