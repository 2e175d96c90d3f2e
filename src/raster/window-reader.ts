import gdal from 'gdal-async';
import type { Window } from '../tiling/window.js';
import { bytesPerSample, typedView, type DataType } from '../pixels/data-type.js';
import type { SlotHandle } from './slot-pool.js';
import { openRaster, type OpenedRaster, type S3ReadCredentials } from './s3-read-credentials.js';

/**
 * Reads raster windows into tile slots, band-sequential (plane b at b * width * height samples). GDAL runs async calls
 * on one dataset one at a time, so the reader keeps several handles of the same image: that is what lets decoding
 * proceed in parallel on the libuv pool while the main thread only schedules.
 *
 * GDAL caches decoded blocks per handle, so neighbouring tiles should go through the same handle: a caller that
 * reads a tile row through one handle (`read(window, slot, stream)`, handle `stream % handles`) decodes the blocks
 * that the row's overlapping tiles share once instead of once per handle. Without a stream any idle handle is used.
 *
 * A handle of an S3 image read with a role's keys holds the keys it was opened with: once they are close to expiring
 * (renewAt, see s3-read-credentials.ts) the handle is opened again before its next read, so a region that runs longer
 * than the role session keeps reading.
 */
interface Handle {
  raster: OpenedRaster;
  busy: boolean;
  /** Reads waiting for this handle in particular. */
  queue: (() => void)[];
  /** Why this handle's last reopen failed (its old dataset is used meanwhile: its keys are still valid a while). */
  renewError?: string;
  /** A read through this handle failed: it is opened again before its next read (see read). */
  suspect?: boolean;
}

export class WindowReader {
  private readonly handles: Handle[] = [];
  /** Reads waiting for whichever handle frees first. */
  private readonly anyQueue: ((handle: Handle) => void)[] = [];
  private readonly bytesPerSample: number;
  private closed = false;

  private constructor(
    private readonly gdalPath: string,
    private readonly dataType: DataType,
    readonly bandCount: number,
    private readonly credentials: S3ReadCredentials | undefined,
    private readonly drivers: readonly string[] | undefined,
  ) {
    this.bytesPerSample = bytesPerSample(dataType);
  }

  /** `drivers`: the only GDAL drivers that may open it (RasterInfo.drivers); absent: any. */
  static async open(gdalPath: string, dataType: DataType, bandCount: number, handles: number, credentials?: S3ReadCredentials, drivers?: readonly string[]): Promise<WindowReader> {
    const reader = new WindowReader(gdalPath, dataType, bandCount, credentials, drivers);
    const opened = await Promise.all(Array.from({ length: Math.max(1, handles) }, () => openRaster(gdalPath, credentials, drivers)));
    for (const raster of opened) reader.handles.push({ raster, busy: false, queue: [] });
    return reader;
  }

  /** GDAL handles this reader reads through. */
  get handleCount(): number {
    return this.handles.length;
  }

  /** Bytes a window needs in a slot. */
  windowBytes(window: Window): number {
    return window.width * window.height * this.bandCount * this.bytesPerSample;
  }

  /** Reads `window` into `slot`; through handle `stream % handleCount` when a stream is given, else any idle one. */
  async read(window: Window, slot: SlotHandle, stream?: number): Promise<void> {
    const needed = this.windowBytes(window);
    if (needed > slot.byteLength) throw new RangeError(`window ${window.width}x${window.height} needs ${needed} bytes, slot holds ${slot.byteLength}`);
    const handle = await this.take(stream);
    try {
      const ds = (await this.fresh(handle)).dataset;
      const plane = window.width * window.height;
      for (let b = 0; b < this.bandCount; b++) {
        const view = typedView(this.dataType, slot.buffer, slot.byteOffset + b * plane * this.bytesPerSample, plane);
        await ds.bands.get(b + 1).pixels.readAsync(window.x, window.y, window.width, window.height, view);
      }
    } catch (err) {
      // A GDAL dataset whose read failed may answer later reads with fill values and no error: a truncated JPEG NITF
      // loses its block index on the first failed read and then returns every missing block as zeros, which would
      // go to the model as black tiles counted as successes. The handle is opened afresh before its next read, so
      // each tile that touches the damage fails on its own.
      handle.suspect = true;
      const renewal = handle.renewError ? ` (opening it again with new S3 keys failed: ${handle.renewError})` : '';
      throw new Error(`reading ${this.gdalPath} at row ${window.y}, column ${window.x} (${window.width}x${window.height} pixels) failed: ${(err as Error).message}${renewal}`);
    } finally {
      this.give(handle);
    }
  }

  /** Closes the handles not reading now (the others once their read ends); reads still waiting fail. */
  close(): void {
    this.closed = true;
    for (const handle of this.handles) {
      if (!handle.busy) closeQuietly(handle.raster.dataset);
      for (const wake of handle.queue.splice(0)) wake();
    }
    for (const wake of this.anyQueue.splice(0)) wake(this.handles[0]);
  }

  private async take(stream: number | undefined): Promise<Handle> {
    if (this.closed) throw this.closedError();
    let handle: Handle;
    if (stream !== undefined) {
      handle = this.handles[Math.abs(Math.trunc(stream)) % this.handles.length];
      if (handle.busy) await new Promise<void>((resolve) => handle.queue.push(resolve));
    } else {
      handle = this.handles.find((h) => !h.busy) ?? (await new Promise<Handle>((resolve) => this.anyQueue.push(resolve)));
    }
    if (this.closed) throw this.closedError(); // woken by close()
    handle.busy = true;
    return handle;
  }

  /** Hands the handle to the next read waiting for it in particular, else to one waiting for any handle. */
  private give(handle: Handle): void {
    handle.busy = false;
    if (this.closed) {
      closeQuietly(handle.raster.dataset);
      return;
    }
    const next = handle.queue.shift() ?? (this.anyQueue.length ? () => this.anyQueue.shift()!(handle) : undefined);
    if (next) {
      handle.busy = true; // stays taken: the waiter resumes as its owner
      next();
    }
  }

  private closedError(): Error {
    return new Error(`reader of ${this.gdalPath} is closed`);
  }

  /**
   * The handle's dataset, opened again first when a read through it failed (that failing fails this read) or when
   * its keys are due for renewal (the old one when that fails: its keys are still valid a while).
   */
  private async fresh(handle: Handle): Promise<OpenedRaster> {
    if (!handle.suspect && Date.now() < handle.raster.renewAt) return handle.raster;
    let opened: OpenedRaster;
    try {
      opened = await openRaster(this.gdalPath, this.credentials, this.drivers);
    } catch (err) {
      if (handle.suspect) throw err;
      handle.renewError = (err as Error).message;
      return handle.raster;
    }
    handle.suspect = false;
    handle.renewError = undefined;
    closeQuietly(handle.raster.dataset);
    handle.raster = opened;
    return opened;
  }
}

function closeQuietly(ds: gdal.Dataset): void {
  try {
    ds.close();
  } catch {
    /* already closed */
  }
}
