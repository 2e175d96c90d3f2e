// Feature distillation at scale: a million detections over a 100k x 100k image, tile 512 / overlap 128,
// region 10240. Prints timings; asserts nothing. Run after building: node dist/bench/selection.js [count]
import { planTiling, type TilingStrategyName } from '../src/tiling/index.js';
import {
  DEFAULT_NMS,
  DEFAULT_SOFT_NMS,
  distill,
  overlapGroups,
  packDetections,
  type Detection,
  type Distillation,
} from '../src/selection/index.js';

const COUNT = Number(process.argv[2] ?? 1_000_000);
const IMAGE = 100_000;
const DUPLICATE_SHARE = 0.25; // share of detections that are jittered copies of another (as tile overlaps produce)

function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDetections(count: number): Detection[] {
  const rand = mulberry32(42);
  const labels = ['vehicle', 'boat', 'aircraft', 'building'];
  const out: Detection[] = [];
  while (out.length < count) {
    const prev = out[Math.floor(rand() * out.length)];
    if (prev && rand() < DUPLICATE_SHARE) {
      const [x1, y1, x2, y2] = prev.bounds;
      const dx = rand() * 4 - 2;
      const dy = rand() * 4 - 2;
      out.push({ bounds: [x1 + dx, y1 + dy, x2 + dx, y2 + dy], label: prev.label, score: rand() });
      continue;
    }
    const w = 8 + rand() * 56;
    const h = 8 + rand() * 56;
    const x = rand() * (IMAGE - w);
    const y = rand() * (IMAGE - h);
    out.push({ bounds: [x, y, x + w, y + h], label: labels[Math.floor(rand() * labels.length)]!, score: rand() });
  }
  return out;
}

/** Runs fn and prints wall time and this process's CPU time (the latter is steadier on a busy machine). */
function time<T>(label: string, fn: () => T): T {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = fn();
  const { user, system } = process.cpuUsage(cpu);
  const wall = (performance.now() - start).toFixed(0).padStart(7);
  const cpuMs = ((user + system) / 1000).toFixed(0).padStart(7);
  console.log(`${label.padEnd(40)} ${wall} ms wall ${cpuMs} ms cpu`);
  return result;
}

const detections = time(`generate ${COUNT} detections`, () => randomDetections(COUNT));
const packed = time('packDetections', () => packDetections(detections));

for (const strategy of ['variable-overlap', 'full-coverage'] as TilingStrategyName[]) {
  const plan = time(`planTiling ${strategy}`, () =>
    planTiling({
      bounds: { x: 0, y: 0, width: IMAGE, height: IMAGE },
      tileSize: { width: 512, height: 512 },
      overlap: { width: 128, height: 128 },
      regionSize: { width: 10240, height: 10240 },
      strategy,
    }),
  );
  const { groups, groupCount } = time(`  overlap groups`, () => overlapGroups(packed.boxes, plan));
  let candidates = 0;
  for (const g of groups) if (g >= 0) candidates++;
  console.log(`  ${candidates} overlap candidates in ${groupCount} groups`);
  for (const distillation of [DEFAULT_NMS, DEFAULT_SOFT_NMS, { algorithm: 'NONE' } as Distillation]) {
    const result = time(`  distill ${distillation.algorithm}`, () => distill(packed, plan, distillation));
    console.log(`  kept ${result.keep.length} of ${COUNT}`);
  }
}
