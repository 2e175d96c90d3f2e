// What feature selection needs from a feature: its image-space box, one label and one score — nothing GeoJSON.
// PackedDetections holds the same in typed arrays so a million features stay compact and fast to scan.

export interface Detection {
  /** Image pixels: minx, miny, maxx, maxy (OSML imageBBox / bounds_imcoords). */
  bounds: [number, number, number, number];
  /** Highest-scoring class; "" for a feature without classes (reference §5.2). */
  label: string;
  /** Score of that class; -1 for a feature without classes. */
  score: number;
}

export interface PackedDetections {
  readonly count: number;
  /** 4 numbers per detection: minx, miny, maxx, maxy. */
  readonly boxes: Float64Array;
  readonly scores: Float64Array;
  /** Index into labelNames. */
  readonly labels: Int32Array;
  readonly labelNames: readonly string[];
}

export function packDetections(detections: ArrayLike<Detection>): PackedDetections {
  const count = detections.length;
  const boxes = new Float64Array(count * 4);
  const scores = new Float64Array(count);
  const labels = new Int32Array(count);
  const labelIds = new Map<string, number>();
  const labelNames: string[] = [];
  for (let i = 0; i < count; i++) {
    const d = detections[i]!;
    boxes.set(d.bounds, i * 4);
    scores[i] = d.score;
    let id = labelIds.get(d.label);
    if (id === undefined) {
      id = labelNames.length;
      labelIds.set(d.label, id);
      labelNames.push(d.label);
    }
    labels[i] = id;
  }
  return { count, boxes, scores, labels, labelNames };
}

export function isPackedDetections(value: ArrayLike<Detection> | PackedDetections): value is PackedDetections {
  return (value as PackedDetections).boxes instanceof Float64Array;
}

export function asPacked(value: ArrayLike<Detection> | PackedDetections): PackedDetections {
  return isPackedDetections(value) ? value : packDetections(value);
}
