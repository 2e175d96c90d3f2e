import { createRequire, Module } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { createRequestHandler as CreateRequestHandler } from 'local-aws-sqs';

/**
 * local-aws-sqs 2.0.2 with one fix applied at load time. Its ChangeMessageVisibility goes through the same code as
 * a receive and so increments ApproximateReceiveCount: every visibility heartbeat would count as a delivery, and
 * with a redrive policy a long-running message would be moved to the dead-letter queue when handed back. SQS
 * itself never counts a visibility change. The package is pinned; if its code changes, this fails loudly.
 */
const NEEDLE = 'let n=Number(t.record.attributes.ApproximateReceiveCount)+1;';
// In that function the third argument is true only for ChangeMessageVisibility (keep the receipt handle).
const FIX = 'let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);';
const SIGNATURE = 'Wt=function(t,e,i){';

let cached: { createRequestHandler: typeof CreateRequestHandler } | undefined;

export function loadLocalSqs(): { createRequestHandler: typeof CreateRequestHandler } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const path = require.resolve('local-aws-sqs');
  const source = readFileSync(path, 'utf8');
  if (source.split(NEEDLE).length !== 2 || !source.includes(SIGNATURE)) {
    throw new Error(`local-aws-sqs at ${path} is not the version the dev stack patches (2.0.2): its receive-count fix no longer applies`);
  }
  const mod = new Module(path) as Module & { _compile(code: string, filename: string): void };
  mod.filename = path;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(path));
  mod._compile(source.replace(NEEDLE, FIX), path);
  cached = mod.exports as { createRequestHandler: typeof CreateRequestHandler };
  return cached;
}
