/**
 * The GDAL handles and the tile-slot pool of an image, kept across the regions of that image a process works on
 * (the service's regions of one image in one container, every region of `tessera run`), instead of opened and
 * allocated again per region: each region used to leave a slot pool (held by workers until their next GC) and a
 * set of GDAL handles behind, so memory grew with the number of regions, hence with image size.
 * Regions of one image worked on at once share its slot pool but each reads through its own GDAL handles (kept for
 * the next region), so each handle's block cache serves the tiles of one region. Images in use are never closed;
 * idle ones beyond `maxIdle` are, oldest first.
 */
import { SlotPool } from '../raster/slot-pool.js';
import { WindowReader } from '../raster/window-reader.js';
import type { RasterInfo } from '../raster/raster-source.js';

interface Entry {
  /**
   * One slot pool per image and tile geometry (the key: edge regions with smaller tiles get their own): it bounds
   * the pixels of the image's regions in this process together.
   */
  slots: SlotPool;
  /** GDAL readers not in use. Each concurrent region reads through its own, so its handles keep their block caches. */
  idle: WindowReader[];
  users: number;
}

export interface ReadResourceLease {
  reader: WindowReader;
  slots: SlotPool;
  release(): void;
}

export class ReadResources {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxIdle = 4) {}

  async acquire(info: RasterInfo, slotCount: number, slotBytes: number, readers: number): Promise<ReadResourceLease> {
    const key = JSON.stringify([info.gdalPath, info.readCredentials?.principal ?? null, info.drivers ?? null, info.dataType, info.bandCount, slotCount, slotBytes, readers]);
    // A new image's readers open before its slot pool is allocated, so an image that cannot be opened leaves nothing.
    const reader = this.entries.get(key)?.idle.pop() ?? (await WindowReader.open(info.gdalPath, info.dataType, info.bandCount, readers, info.readCredentials, info.drivers));
    // Looked up again: another region of the image may have made the entry while this one opened its reader.
    const entry = this.entries.get(key) ?? { slots: new SlotPool(slotCount, slotBytes), idle: [], users: 0 };
    // Most recently used last: eviction takes the oldest idle entries.
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.users++;
    const held = entry;
    let released = false;
    return {
      reader,
      slots: held.slots,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        held.idle.push(reader);
        this.evict();
      },
    };
  }

  /** Closes every idle entry (the end of a run, or of the service). */
  async close(): Promise<void> {
    this.evict(0);
  }

  /** Closes the oldest idle images beyond `keepIdle`. */
  private evict(keepIdle = this.maxIdle): void {
    const idle = [...this.entries].filter(([, e]) => e.users === 0);
    for (const [key, entry] of idle.slice(0, Math.max(0, idle.length - keepIdle))) {
      this.entries.delete(key);
      for (const reader of entry.idle.splice(0)) reader.close();
      entry.slots.close();
    }
  }
}
