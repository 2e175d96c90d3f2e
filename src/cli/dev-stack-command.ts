/**
 * `tessera dev-stack`: the local AWS stand-ins (dynalite, local-aws-sqs, s3rver, kinesalite, an SNS receiver), all
 * on 127.0.0.1, with OSML's tables, the queues, a bucket, a stream and the status topics created. Prints the
 * environment to export for `tessera serve` and runs until Ctrl-C. The servers are development dependencies.
 */
import { UsageError } from './run-command.js';

export interface DevStackCliOptions {
  dataDir?: string;
  visibilityTimeout?: string;
  maxReceiveCount?: string;
}

export async function devStackCommand(o: DevStackCliOptions): Promise<number> {
  const int = (v: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER, why = '') => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`${flag} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}${why}`}, got ${JSON.stringify(v)}`);
    return n;
  };
  // SQS's own maximum visibility timeout (12 h); the stand-in's timers would overflow far above it.
  const visibilityTimeoutSeconds = int(o.visibilityTimeout, '--visibility-timeout', 1, 43_200, " (12 h, SQS's maximum)");
  const maxReceiveCount = int(o.maxReceiveCount, '--max-receive-count', 1);
  // Signals are caught from the start, so a Ctrl-C during start-up (or right after the environment is printed)
  // still stops every server cleanly.
  let signalled: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  process.once('SIGINT', () => signalled());
  process.once('SIGTERM', () => signalled());
  let local: typeof import('../dev-stack/local-stack.js');
  try {
    local = await import('../dev-stack/local-stack.js');
  } catch (err) {
    throw new Error(`the local stack could not be loaded (${(err as Error).message}); it needs the development dependencies: run npm install in the Tessera repository`);
  }
  let stack: Awaited<ReturnType<typeof local.startLocalStack>>;
  try {
    stack = await local.startLocalStack({
      ...(o.dataDir ? { dataDir: o.dataDir } : {}),
      ...(visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds } : {}),
      ...(maxReceiveCount !== undefined ? { maxReceiveCount } : {}),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`the local stack needs the development dependencies (dynalite, local-aws-sqs, s3rver, kinesalite): run npm install in the Tessera repository (${(err as Error).message})`);
    }
    throw err;
  }
  process.stdout.write(`# Tessera local AWS stack (127.0.0.1 only). Export these in the shell that runs tessera serve; Ctrl-C stops the stack.\n${local.formatEnvExports(stack.env)}\n`);
  await stopRequested;
  await stack.stop();
  return 0;
}
