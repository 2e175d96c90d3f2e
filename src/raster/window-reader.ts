import gdal from 'gdal-async';
import type { Window } from '../tiling/window.js';
import { bytesPerSample, typedView, type DataType } from '../pixels/data-type.js';
import type { SlotHandle } from './slot-pool.js';

/**
 * Reads raster windows into tile slots, band-sequential (plane b at b * width * height samples). GDAL runs async calls
 * on one dataset one at a time, so the reader keeps several handles of the same image and gives each read a free one:
 * that is what lets decoding proceed in parallel on the libuv pool while the main thread only schedules.
 */
export class WindowReader {
  private readonly idle: gdal.Dataset[] = [];
  private readonly waiting: ((ds: gdal.Dataset) => void)[] = [];
  private readonly all: gdal.Dataset[] = [];
  private readonly bytesPerSample: number;

  private constructor(
    private readonly gdalPath: string,
    private readonly dataType: DataType,
    readonly bandCount: number,
  ) {
    this.bytesPerSample = bytesPerSample(dataType);
  }

  static async open(gdalPath: string, dataType: DataType, bandCount: number, handles: number): Promise<WindowReader> {
    const reader = new WindowReader(gdalPath, dataType, bandCount);
    const opened = await Promise.all(Array.from({ length: Math.max(1, handles) }, () => gdal.openAsync(gdalPath)));
    reader.all.push(...opened);
    reader.idle.push(...opened);
    return reader;
  }

  /** Bytes a window needs in a slot. */
  windowBytes(window: Window): number {
    return window.width * window.height * this.bandCount * this.bytesPerSample;
  }

  async read(window: Window, slot: SlotHandle): Promise<void> {
    const needed = this.windowBytes(window);
    if (needed > slot.byteLength) throw new RangeError(`window ${window.width}x${window.height} needs ${needed} bytes, slot holds ${slot.byteLength}`);
    const ds = await this.take();
    try {
      const plane = window.width * window.height;
      for (let b = 0; b < this.bandCount; b++) {
        const view = typedView(this.dataType, slot.buffer, slot.byteOffset + b * plane * this.bytesPerSample, plane);
        await ds.bands.get(b + 1).pixels.readAsync(window.x, window.y, window.width, window.height, view);
      }
    } catch (err) {
      throw new Error(`reading ${this.gdalPath} at column ${window.x}, row ${window.y} (${window.width}x${window.height} pixels) failed: ${(err as Error).message}`);
    } finally {
      this.give(ds);
    }
  }

  close(): void {
    for (const ds of this.all) {
      try {
        ds.close();
      } catch {
        /* already closed */
      }
    }
    this.all.length = 0;
    this.idle.length = 0;
  }

  private take(): Promise<gdal.Dataset> {
    const ds = this.idle.pop();
    if (ds) return Promise.resolve(ds);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private give(ds: gdal.Dataset): void {
    const next = this.waiting.shift();
    if (next) next(ds);
    else this.idle.push(ds);
  }
}
