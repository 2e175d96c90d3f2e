/** Structural subset of a pino logger, so AWS-facing modules take the service's logger without importing pino. */
export interface AwsLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Default: nothing is logged (a library module should not write on its own; the service passes its logger). */
export const silentLogger: AwsLogger = { info() {}, warn() {}, error() {} };

export function errorDetails(err: unknown): { error: string; errorName?: string } {
  const e = err as { name?: string; message?: string };
  return { error: e?.message ?? String(err), ...(e?.name ? { errorName: e.name } : {}) };
}
