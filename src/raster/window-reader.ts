import gdal from 'gdal-async';
import type { Window } from '../tiling/window.js';
import { bytesPerSample, typedView, type DataType } from '../pixels/data-type.js';
import type { SlotHandle } from './slot-pool.js';
import { openRaster, type OpenedRaster, type S3ReadCredentials } from './s3-read-credentials.js';

/**
 * Reads raster windows into tile slots, band-sequential (plane b at b * width * height samples). GDAL runs async calls
 * on one dataset one at a time, so the reader keeps several handles of the same image and gives each read a free one:
 * that is what lets decoding proceed in parallel on the libuv pool while the main thread only schedules.
 *
 * A handle of an S3 image read with a role's keys holds the keys it was opened with: once they are close to expiring
 * (renewAt, see s3-read-credentials.ts) the handle is opened again before its next read, so a region that runs longer
 * than the role session keeps reading.
 */
export class WindowReader {
  private readonly idle: OpenedRaster[] = [];
  private readonly waiting: ((handle: OpenedRaster) => void)[] = [];
  private readonly all = new Set<OpenedRaster>();
  private readonly bytesPerSample: number;
  /** Why the last reopen failed (the old handle is used meanwhile: its keys are still valid for a while). */
  private renewError: string | undefined;

  private constructor(
    private readonly gdalPath: string,
    private readonly dataType: DataType,
    readonly bandCount: number,
    private readonly credentials: S3ReadCredentials | undefined,
  ) {
    this.bytesPerSample = bytesPerSample(dataType);
  }

  static async open(gdalPath: string, dataType: DataType, bandCount: number, handles: number, credentials?: S3ReadCredentials): Promise<WindowReader> {
    const reader = new WindowReader(gdalPath, dataType, bandCount, credentials);
    const opened = await Promise.all(Array.from({ length: Math.max(1, handles) }, () => openRaster(gdalPath, credentials)));
    for (const handle of opened) reader.all.add(handle);
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
    const handle = await this.take();
    try {
      const ds = handle.dataset;
      const plane = window.width * window.height;
      for (let b = 0; b < this.bandCount; b++) {
        const view = typedView(this.dataType, slot.buffer, slot.byteOffset + b * plane * this.bytesPerSample, plane);
        await ds.bands.get(b + 1).pixels.readAsync(window.x, window.y, window.width, window.height, view);
      }
    } catch (err) {
      const renewal = this.renewError ? ` (opening it again with new S3 keys failed: ${this.renewError})` : '';
      throw new Error(`reading ${this.gdalPath} at column ${window.x}, row ${window.y} (${window.width}x${window.height} pixels) failed: ${(err as Error).message}${renewal}`);
    } finally {
      this.give(handle);
    }
  }

  close(): void {
    for (const handle of this.all) closeQuietly(handle.dataset);
    this.all.clear();
    this.idle.length = 0;
  }

  private async take(): Promise<OpenedRaster> {
    const handle = this.idle.pop() ?? (await new Promise<OpenedRaster>((resolve) => this.waiting.push(resolve)));
    return Date.now() >= handle.renewAt ? this.renew(handle) : handle;
  }

  /** The handle opened again (new keys); the old one when that fails, to be tried again at its next read. */
  private async renew(handle: OpenedRaster): Promise<OpenedRaster> {
    let fresh: OpenedRaster;
    try {
      fresh = await openRaster(this.gdalPath, this.credentials);
    } catch (err) {
      this.renewError = (err as Error).message;
      return handle;
    }
    this.renewError = undefined;
    this.all.delete(handle);
    closeQuietly(handle.dataset);
    this.all.add(fresh);
    return fresh;
  }

  private give(handle: OpenedRaster): void {
    const next = this.waiting.shift();
    if (next) next(handle);
    else this.idle.push(handle);
  }
}

function closeQuietly(ds: gdal.Dataset): void {
  try {
    ds.close();
  } catch {
    /* already closed */
  }
}
