import { formatEnvExports, startLocalStack, type LocalStackOptions } from './local-stack.js';

/**
 * What `tessera dev-stack` does: start the local stack, print the environment to export (shell `export` lines on
 * stdout, so `eval "$(tessera dev-stack)"`-style use works while it runs in another terminal), keep serving until
 * SIGINT/SIGTERM, then stop every server.
 */
export async function runDevStack(options: LocalStackOptions = {}, print: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const stack = await startLocalStack(options);
  print(`# Tessera local AWS stack (127.0.0.1 only). Export these in the shell that runs tessera serve:\n${formatEnvExports(stack.env)}\n`);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await stack.stop();
}
