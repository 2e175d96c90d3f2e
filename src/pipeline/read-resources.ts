/**
 * The GDAL handles and the tile-slot pool of an image, kept across the regions of that image a process works on
 * (the service's regions of one image in one container, every region of `tessera run`), instead of opened and
 * allocated again per region: each region used to leave a slot pool (held by workers until their next GC) and a
 * set of GDAL handles behind, so memory grew with the number of regions, hence with image size.
 * Entries in use are never closed; idle ones beyond `maxIdle` are, oldest first.
 */
import { SlotPool } from '../raster/slot-pool.js';
import { WindowReader } from '../raster/window-reader.js';
import type { RasterInfo } from '../raster/raster-source.js';

interface Entry {
  reader: WindowReader;
  slots: SlotPool;
  users: number;
}

export interface ReadResourceLease {
  reader: WindowReader;
  slots: SlotPool;
  release(): void;
}

export class ReadResources {
  private readonly entries = new Map<string, Promise<Entry>>();

  constructor(private readonly maxIdle = 4) {}

  async acquire(info: RasterInfo, slotCount: number, slotBytes: number, readers: number): Promise<ReadResourceLease> {
    const key = JSON.stringify([info.gdalPath, info.readCredentials?.principal ?? null, info.dataType, info.bandCount, slotCount, slotBytes, readers]);
    let pending = this.entries.get(key);
    if (!pending) {
      pending = WindowReader.open(info.gdalPath, info.dataType, info.bandCount, readers, info.readCredentials).then((reader) => ({ reader, slots: new SlotPool(slotCount, slotBytes), users: 0 }));
      this.entries.set(key, pending);
      pending.catch(() => this.entries.delete(key));
    } else {
      // Most recently used last: eviction takes the oldest idle entries.
      this.entries.delete(key);
      this.entries.set(key, pending);
    }
    const entry = await pending;
    entry.users++;
    let released = false;
    return {
      reader: entry.reader,
      slots: entry.slots,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        void this.evict();
      },
    };
  }

  /** Closes every idle entry (the end of a run, or of the service). */
  async close(): Promise<void> {
    await this.evict(0);
  }

  private async evict(keepIdle = this.maxIdle): Promise<void> {
    const idle: Array<[string, Entry]> = [];
    for (const [key, pending] of this.entries) {
      const entry = await pending.catch(() => undefined);
      if (entry && entry.users === 0) idle.push([key, entry]);
    }
    for (const [key, entry] of idle.slice(0, Math.max(0, idle.length - keepIdle))) {
      if (entry.users !== 0 || this.entries.get(key) === undefined) continue;
      this.entries.delete(key);
      entry.reader.close();
      entry.slots.close();
    }
  }
}
