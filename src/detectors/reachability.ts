import { connect } from 'node:net';

export class ModelUnreachableError extends Error {
  constructor(url: string, reason: string) {
    super(`model endpoint ${url} cannot be reached: ${reason}`);
    this.name = 'ModelUnreachableError';
  }
}

/**
 * Fails fast, before any tile is read, when nothing listens at the model's host and port: otherwise every tile would
 * spend its retries and the run would end with thousands of identical failures. A TCP connect is enough (and works
 * for endpoints without a /ping route).
 */
export async function checkModelReachable(url: string, timeoutMs = 5000): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new ModelUnreachableError(url, `no answer from ${host}:${port} within ${timeoutMs} ms`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ModelUnreachableError(url, err.code === 'ECONNREFUSED' ? `connection refused at ${host}:${port}` : `${err.code ?? err.message}`));
    });
  });
}
