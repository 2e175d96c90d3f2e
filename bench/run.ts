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

const root = packageRoot();
const quick = process.argv.includes('--quick');
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

interface Case {
  fixture: keyof typeof FIXTURES;
  tile: number;
  overlap: number;
  format: 'JPEG' | 'PNG';
  range?: string;
}

const cases: Case[] = [];
for (const fixture of ['a', 'b', 'c'] as const) {
  for (const tile of [512, 2048]) for (const format of ['JPEG', 'PNG'] as const) cases.push({ fixture, tile, overlap: 128, format });
}
cases.push({ fixture: 'quarter', tile: 512, overlap: 128, format: 'JPEG' }, { fixture: 'giga', tile: 512, overlap: 128, format: 'JPEG' });
const selected = quick ? cases.filter((c) => c.tile === 512 && c.format === 'JPEG') : cases;

function startModel(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [join(root, 'dist', 'bench', 'fast-model.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    createInterface({ input: child.stdout! }).once('line', (url) => resolve({ url: `${url}/invocations`, stop: () => child.kill('SIGTERM') }));
  });
}

function runCase(image: string, c: Case, url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const args = [join(root, 'dist', 'bench', 'case.js'), image, String(c.tile), String(c.overlap), c.format, url, ...(c.range ? [c.range] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', AWS_EMF_ENVIRONMENT: 'Local' } });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`case failed (${code}): ${err}`))));
  });
}

const model = await startModel();
const results: Array<Case & Record<string, unknown>> = [];
try {
  for (const c of selected) {
    const image = await ensureFixture(FIXTURES[c.fixture], log);
    log(`${FIXTURES[c.fixture].description}: tile ${c.tile}/${c.overlap} ${c.format}`);
    const r = await runCase(image, c, model.url);
    results.push({ ...c, ...r });
  }
} finally {
  model.stop();
}

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, gdal: execFileSync('gdal-config', ['--version']).toString().trim() };
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify({ date: new Date().toISOString(), machine, fixturesDir: BENCH_DIR, results }, null, 2));

const pad = (s: unknown, n: number) => String(s).padStart(n);
console.log(`\nmachine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGB} GB, node ${machine.node}, GDAL ${machine.gdal}`);
console.log(`${'case'.padEnd(34)}${pad('tiles', 7)}${pad('tiles/s', 9)}${pad('MP/s', 8)}${pad('read', 8)}${pad('convert', 9)}${pad('encode', 8)}${pad('invoke', 8)}${pad('main', 6)}${pad('workers', 8)}${pad('RSS MB', 8)}`);
for (const r of results) {
  const s = r.stagesMs as Record<string, number>;
  const per = (ms: number) => (ms / (r.tiles as number)).toFixed(1);
  console.log(
    `${`${r.fixture} ${r.tile}/${r.overlap} ${r.format}`.padEnd(34)}${pad(r.tiles, 7)}${pad((r.tilesPerSecond as number).toFixed(0), 9)}${pad((r.megapixelsPerSecond as number).toFixed(0), 8)}` +
      `${pad(per(s.readMs), 8)}${pad(per(s.convertMs), 9)}${pad(per(s.encodeMs), 8)}${pad(per(s.invokeMs), 8)}${pad(((r.mainThreadBusy as number) * 100).toFixed(0) + '%', 6)}${pad(((r.workerUtilization as number) * 100).toFixed(0) + '%', 8)}${pad((r.peakRssMB as number).toFixed(0), 8)}`,
  );
}
console.log('(read/convert/encode/invoke: ms per tile summed over threads; main: main-thread busy share; workers: CPU share of worker time)');
const quarter = results.find((r) => r.fixture === 'quarter'), giga = results.find((r) => r.fixture === 'giga');
if (quarter && giga) {
  const growth = (giga.peakRssMB as number) / (quarter.peakRssMB as number) - 1;
  console.log(`memory: peak RSS ${(quarter.peakRssMB as number).toFixed(0)} MB at 0.27 GP vs ${(giga.peakRssMB as number).toFixed(0)} MB at 1.07 GP (${(growth * 100).toFixed(1)} %): ${Math.abs(growth) <= 0.1 && (giga.peakRssMB as number) < 600 ? 'HOLDS' : 'MISSED'} (target < 600 MB and within 10 %)`);
}
