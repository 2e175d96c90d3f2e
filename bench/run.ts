/**
 * `npm run bench`: generates the fixtures (cached outside the repo), starts a loopback model that answers at once
 * in its own process, runs every case in a fresh process, prints a table and writes bench/results/latest.json.
 * `npm run bench -- --quick` runs a smaller set.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FIXTURES, ensureFixture, BENCH_DIR } from './fixtures.js';
import { packageRoot } from '../src/util/package-root.js';
import { MEMORY_V8_FLAGS } from '../src/util/memory-flags.js';

const root = packageRoot();
const quick = process.argv.includes('--quick');
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

interface Case {
  fixture: keyof typeof FIXTURES;
  tile: number;
  overlap: number;
  format: 'JPEG' | 'PNG';
}

const cases: Case[] = [];
for (const fixture of ['a', 'b', 'c'] as const) {
  for (const tile of [512, 2048]) for (const format of ['JPEG', 'PNG'] as const) cases.push({ fixture, tile, overlap: 128, format });
}
cases.push({ fixture: 'quarter', tile: 512, overlap: 128, format: 'JPEG' }, { fixture: 'giga', tile: 512, overlap: 128, format: 'JPEG' });
const selected = quick ? cases.filter((c) => c.tile === 512 && c.format === 'JPEG') : cases;

function startModel(): Promise<{ url: string; cpuMs(): Promise<number>; stop(): void }> {
  const child = spawn(process.execPath, [join(root, 'dist', 'bench', 'fast-model.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    createInterface({ input: child.stdout! }).once('line', (url) => resolve({
      url: `${url}/invocations`,
      cpuMs: async () => ((await (await fetch(`${url}/cpu`)).json()) as { cpuMs: number }).cpuMs,
      stop: () => child.kill('SIGTERM'),
    }));
  });
}

function runCase(image: string, c: Case, url: string, mode: 'pipeline' | 'run' | 'limit' | 'osml' | 'http' = 'pipeline'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // The engine and tessera run get the V8 settings bin/tessera.js starts with (memory-flags.ts).
    const args = [...(mode === 'pipeline' || mode === 'run' ? MEMORY_V8_FLAGS : []), join(root, 'dist', 'bench', 'case.js'), image, String(c.tile), String(c.overlap), c.format, url, mode];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', AWS_EMF_ENVIRONMENT: 'Local' } });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`case failed (${code}): ${err}`))));
  });
}

/**
 * Runs of the pipeline and of the limit per case: the median run (by tiles per second) is reported, with the
 * spread of the runs, so one disturbed run on a shared VM moves neither side of the ratio; peak RSS is the highest.
 */
const RUNS = 3;
async function medianOf(runs: number, measure: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const all: Array<Record<string, unknown>> = [];
  for (let i = 0; i < runs; i++) all.push(await measure());
  const speeds = all.map((r) => Number(r.tilesPerSecond));
  all.sort((a, b) => Number(a.tilesPerSecond) - Number(b.tilesPerSecond));
  // Memory is judged on the worst run, not the median one.
  const peakRssMB = Math.max(...all.map((r) => Number(r.peakRssMB)));
  return { ...all[Math.floor(all.length / 2)], runs: all.length, tilesPerSecondRange: [Math.min(...speeds), Math.max(...speeds)], peakRssMB };
}

// Per-tile cost of pixel conversion and of each encoder (native next to the alternative), then de-duplication at
// a million detections: both in their own processes, printed as they finish.
function runScript(script: string, args: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'bench', script), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited ${code}`))));
  });
}
if (!quick) {
  log('encoders and pixel conversion (ms per tile)');
  await runScript('encoders.js');
  log('de-duplication of 1,000,000 detections');
  await runScript('selection.js', ['1000000']);
}

const model = await startModel();
const results: Array<Case & Record<string, unknown>> = [];
try {
  for (const c of selected) {
    const image = await ensureFixture(FIXTURES[c.fixture], log);
    log(`${FIXTURES[c.fixture].description}: tile ${c.tile}/${c.overlap} ${c.format}`);
    const r = await medianOf(RUNS, async () => {
      const modelCpu0 = await model.cpuMs();
      const run = await runCase(image, c, model.url);
      // What the loopback model itself spent per tile: it shares this machine's cores with the pipeline.
      run.modelCpuMsPerTile = (await model.cpuMs() - modelCpu0) / Number(run.tiles);
      return run;
    });
    // The references only for the ratio cases (the memory fixtures measure memory). The OSML way runs once: it is
    // the slow side, and its spread is small beside the 5x target.
    const refs = c.fixture === 'quarter' || c.fixture === 'giga' ? {} : { limit: await medianOf(RUNS, () => runCase(image, c, model.url, 'limit')), osml: await runCase(image, c, model.url, 'osml') };
    // The HTTP exchange alone (client and loopback model, bodies of this case's mean tile size): the part of the
    // pipeline's cost per tile that no hand-off or pixel work can remove while every tile is one HTTP call.
    if (refs.limit) {
      const m0 = await model.cpuMs();
      const http = await runCase(String(r.meanTileBytes), c, model.url, 'http');
      http.modelCpuMsPerCall = (await model.cpuMs() - m0) / Number(http.calls) / 2; // its warm-up ran as many calls
      Object.assign(refs, { http });
    }
    // What `tessera run` adds on top of the engine (the handlers, in-process stores, the written output): measured
    // where it matters most, the memory cases and the headline case, to keep the bench within its time.
    const asRun = c.fixture === 'quarter' || c.fixture === 'giga' || (c.fixture === 'a' && c.tile === 512 && c.format === 'JPEG') ? { run: await runCase(image, c, model.url, 'run') } : {};
    results.push({ ...c, ...r, ...refs, ...asRun });
  }
} finally {
  model.stop();
}

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, gdal: execFileSync('gdal-config', ['--version']).toString().trim() };
mkdirSync(join(root, 'bench', 'results'), { recursive: true });

const pad = (s: unknown, n: number) => String(s).padStart(n);
const num = (v: unknown) => v as number;
console.log(`\nmachine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGB} GB, node ${machine.node}, GDAL ${machine.gdal}`);
console.log(`${'case'.padEnd(22)}${pad('tiles', 6)}${pad('tiles/s', 8)}${pad('MP/s', 6)}${pad('read', 6)}${pad('conv', 6)}${pad('enc', 6)}${pad('invoke', 7)}${pad('refine', 7)}${pad('dedup', 7)}${pad('write', 7)}${pad('main', 6)}${pad('wrk', 5)}${pad('RSS', 6)}${pad('limit/s', 8)}${pad('/limit', 7)}${pad('osml/s', 7)}${pad('/osml', 6)}`);
const targets: string[] = [];
const runLines: string[] = [];
for (const r of results) {
  const s = r.stagesMs as Record<string, number>;
  const per = (ms: number) => (ms / num(r.tiles)).toFixed(1);
  const limit = r.limit as Record<string, number> | undefined, osml = r.osml as Record<string, number> | undefined;
  const vsLimit = limit ? num(r.tilesPerSecond) / limit.tilesPerSecond : NaN, vsOsml = osml ? num(r.tilesPerSecond) / osml.tilesPerSecond : NaN;
  Object.assign(r, { ratioToLimit: vsLimit, ratioToOsml: vsOsml });
  // The memory fixtures by their size, as the README's table names them.
  const fixtureName = r.fixture === 'quarter' ? '0.27 GP' : r.fixture === 'giga' ? '1.07 GP' : r.fixture;
  const name = `${fixtureName} ${r.tile}/${r.overlap} ${r.format}`;
  console.log(
    `${name.padEnd(22)}${pad(r.tiles, 6)}${pad(num(r.tilesPerSecond).toFixed(0), 8)}${pad(num(r.megapixelsPerSecond).toFixed(0), 6)}` +
      `${pad(per(s.readMs), 6)}${pad(per(s.convertMs), 6)}${pad(per(s.encodeMs), 6)}${pad(per(s.invokeMs), 7)}${pad((s.refineMs / num(r.tiles)).toFixed(2), 7)}${pad(s.dedupMs.toFixed(0), 7)}${pad(s.writeMs.toFixed(0), 7)}` +
      `${pad((num(r.mainThreadBusy) * 100).toFixed(0) + '%', 6)}${pad((num(r.workerUtilization) * 100).toFixed(0) + '%', 5)}${pad(num(r.peakRssMB).toFixed(0), 6)}` +
      `${pad(limit ? limit.tilesPerSecond.toFixed(0) : '-', 8)}${pad(limit ? vsLimit.toFixed(2) : '-', 7)}${pad(osml ? osml.tilesPerSecond.toFixed(0) : '-', 7)}${pad(osml ? vsOsml.toFixed(1) : '-', 6)}`,
  );
  const check = (ok: boolean, what: string) => targets.push(`${ok ? 'HOLDS ' : 'MISSED'} ${name}: ${what}`);
  check(num(r.failedTiles) === 0, `${num(r.failedTiles)} failed tiles${r.firstFailure ? ` (first: ${String(r.firstFailure)})` : ''}`);
  // Where a ratio target is missed, say what limits it, from measured CPU time rather than guesses.
  const cpuNote = () => {
    if (!limit?.cpuMsPerTile || r.cpuMsPerTile === undefined) return '';
    const own = num(r.cpuMsPerTile), mdl = num(r.modelCpuMsPerTile), lim = limit.cpuMsPerTile, main = num(r.mainCpuMsPerTile);
    const http = r.http as Record<string, number> | undefined;
    const workers = num(r.workersCpuMsPerTile), other = num(r.otherThreadsCpuMsPerTile);
    let note = `; CPU per tile: limit ${lim.toFixed(2)} ms (read, convert, encode); pipeline ${own.toFixed(2)} ms (workers ${workers.toFixed(2)}, main thread ${main.toFixed(2)}, GDAL's reads on the libuv pool with V8's GC and compiler threads ${other.toFixed(2)}) + loopback model ${mdl.toFixed(2)} ms, on the same ${cpus().length} cores`;
    if (http) {
      const exchange = http.cpuMsPerCall + http.modelCpuMsPerCall;
      note += `; the HTTP exchange alone costs ${exchange.toFixed(2)} ms (client ${http.cpuMsPerCall.toFixed(2)} + model ${http.modelCpuMsPerCall.toFixed(2)}, measured without the pipeline) and would cap the pipeline at ${(lim / (lim + exchange)).toFixed(2)} of the limit; the rest, ${(own + mdl - lim - exchange).toFixed(2)} ms, is the hand-off to workers, the per-tile JavaScript (refinement, geolocation, results) and the main thread's scheduling`;
    }
    return note;
  };
  if (r.fixture === 'a' && r.tile === 512 && r.format === 'JPEG') check(vsLimit >= 0.8, `pipeline ${vsLimit.toFixed(2)} of the limit (target >= 0.8)${vsLimit >= 0.8 ? '' : cpuNote()}`);
  if (osml) {
    const limitVsOsml = limit ? limit.tilesPerSecond / osml.tilesPerSecond : NaN;
    // The OSML way's translate loop runs on one core: 5x on this machine's cores needs a per-tile cost that much lower.
    const osmlMsPerTile = 1000 / osml.tilesPerSecond, needed = (osmlMsPerTile * cpus().length) / 5;
    const bound = limitVsOsml < 5
      ? `; unreachable here: even the limit (no hand-off, no HTTP) is only ${limitVsOsml.toFixed(1)}x the OSML way: its translate loop takes ${osmlMsPerTile.toFixed(1)} ms per tile on one core, so 5x needs at most ${needed.toFixed(1)} ms of CPU per tile on ${cpus().length} cores, and the same reads and encodes alone take ${limit?.cpuMsPerTile?.toFixed(1) ?? '?'} ms`
      : '';
    check(vsOsml >= 5, `pipeline ${vsOsml.toFixed(1)}x the OSML way (target >= 5x)${vsOsml >= 5 ? '' : bound || cpuNote()}`);
  }
  check(num(r.peakRssMB) < 600, `peak RSS ${num(r.peakRssMB).toFixed(0)} MB (target < 600 MB)`);
  check(num(r.mainThreadBusy) < 0.5, `main thread busy ${(num(r.mainThreadBusy) * 100).toFixed(0)} % (target < 50 %)`);
  const run = r.run as Record<string, number> | undefined;
  if (run) {
    runLines.push(`${name.padEnd(22)}${pad(run.tilesPerSecond.toFixed(0), 8)}${pad((run.tilesPerSecond / num(r.tilesPerSecond)).toFixed(2), 9)}${pad((run.mainThreadBusy * 100).toFixed(0) + '%', 6)}${pad(run.peakRssMB.toFixed(0), 6)}`);
    check(run.failedTiles === 0 && run.peakRssMB < 600, `tessera run: ${run.failedTiles} failed tiles, peak RSS ${run.peakRssMB.toFixed(0)} MB (target < 600 MB)`);
    check(run.mainThreadBusy < 0.5, `tessera run: main thread busy ${(run.mainThreadBusy * 100).toFixed(0)} % (target < 50 %)`);
  }
}
if (runLines.length) {
  console.log(`\n${'tessera run (handlers)'.padEnd(22)}${pad('tiles/s', 8)}${pad('/engine', 9)}${pad('main', 6)}${pad('RSS', 6)}`);
  for (const line of runLines) console.log(line);
}
console.log('(read/conv/enc/invoke/refine (refinement and geolocation): ms per tile, summed over threads; dedup/write: ms per run; main: main-thread busy share; wrk: worker CPU share; RSS: peak MB)');
const quarter = results.find((r) => r.fixture === 'quarter'), giga = results.find((r) => r.fixture === 'giga');
if (quarter && giga) {
  const growth = num(giga.peakRssMB) / num(quarter.peakRssMB) - 1;
  targets.push(`${Math.abs(growth) <= 0.1 ? 'HOLDS ' : 'MISSED'} memory: peak RSS ${num(quarter.peakRssMB).toFixed(0)} MB at 0.27 GP vs ${num(giga.peakRssMB).toFixed(0)} MB at 1.07 GP (${(growth * 100).toFixed(1)} %, target within 10 %)`);
  const qRun = quarter.run as Record<string, number> | undefined, gRun = giga.run as Record<string, number> | undefined;
  if (qRun && gRun) {
    const runGrowth = gRun.peakRssMB / qRun.peakRssMB - 1;
    targets.push(`${Math.abs(runGrowth) <= 0.1 ? 'HOLDS ' : 'MISSED'} memory (tessera run): peak RSS ${qRun.peakRssMB.toFixed(0)} MB at 0.27 GP vs ${gRun.peakRssMB.toFixed(0)} MB at 1.07 GP (${(runGrowth * 100).toFixed(1)} %, target within 10 %)`);
  }
}
console.log('\ntargets:\n' + targets.map((t) => `  ${t}`).join('\n'));
writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify({ date: new Date().toISOString(), machine, fixturesDir: BENCH_DIR, results, targets }, null, 2));
