/**
 * `tessera serve`: the queue-driven service (OSML's model runner). Configuration comes from the environment
 * (OSML's variable names plus TESSERA_*; `tessera dev-stack` prints a complete set for a local stack). Logs are
 * JSON lines on stderr; stdout carries the CloudWatch EMF metric lines, as OSML's container does.
 * Exit status: 0 after SIGTERM/SIGINT (in-flight messages finished or handed back), 1 on a configuration problem
 * or a fatal error.
 */
import { ConfigError, loadServiceConfig } from '../service/config.js';
import { startService } from '../service/service.js';

export interface ServeCliOptions {
  healthPort?: string;
}

export async function serveCommand(options: ServeCliOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config;
  try {
    config = loadServiceConfig(options.healthPort !== undefined ? { ...env, TESSERA_HEALTH_PORT: options.healthPort } : env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tessera serve: ${err.message}\n`);
    return 1;
  }
  let service;
  try {
    service = await startService(config);
  } catch (err) {
    // Problems found only by asking AWS (the queues' redrive policies), reported as the environment's are.
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tessera serve: ${err.message}\n`);
    return 1;
  }
  const logger = service.ctx.logger;
  process.on('unhandledRejection', (reason) => logger.error({ error: String((reason as Error)?.stack ?? reason) }, 'unhandled rejection'));
  const signalled = new Promise<number>((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, 'second signal while stopping: exiting now');
        process.exit(1);
      }
      received = true;
      logger.info({ signal }, 'signal received');
      void service.stop().then(() => resolve(0), (err) => {
        logger.error({ error: String(err) }, 'stopping failed');
        resolve(1);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const code = await Promise.race([signalled, service.fatal]);
  // Work handed back on stop may still hold sockets or timers for a moment: do not let them delay the exit.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
