/** GDAL sample types Tessera reads (complex types arrive as I/Q band pairs in SICD NITFs). */
export const DATA_TYPES = ['Byte', 'UInt16', 'Int16', 'UInt32', 'Int32', 'Float32', 'Float64'] as const;
export type DataType = (typeof DATA_TYPES)[number];

const BYTES: Record<DataType, number> = { Byte: 1, UInt16: 2, Int16: 2, UInt32: 4, Int32: 4, Float32: 4, Float64: 8 };

export function bytesPerSample(type: DataType): number {
  return BYTES[type];
}

/** A typed-array view of the right kind over raw bytes (GDAL reads into the view's element type). */
export function typedView(type: DataType, buffer: ArrayBufferLike, byteOffset: number, length: number) {
  switch (type) {
    case 'Byte': return new Uint8Array(buffer, byteOffset, length);
    case 'UInt16': return new Uint16Array(buffer, byteOffset, length);
    case 'Int16': return new Int16Array(buffer, byteOffset, length);
    case 'UInt32': return new Uint32Array(buffer, byteOffset, length);
    case 'Int32': return new Int32Array(buffer, byteOffset, length);
    case 'Float32': return new Float32Array(buffer, byteOffset, length);
    case 'Float64': return new Float64Array(buffer, byteOffset, length);
  }
}
