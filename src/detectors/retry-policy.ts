/**
 * When a detector call is worth repeating and how long to wait first.
 *
 * Retried: 408, 429 and 5xx except 501/505 (those say the server can never handle the request), plus transport
 * failures (refused, reset, timeouts). 408 is retried like 429: it means the server gave up waiting, which is
 * transient by nature (RFC 9110 lets clients repeat it), and OSML's failure model answers 408 to simulate an
 * overloaded model; a persistently slow model still ends in a clear error after maxRetries.
 * Other 4xx are the request's fault and would fail identically, so they are not retried.
 */

/**
 * Model attempts per tile, at most (the first and its retries): bounds how long a failing SageMaker endpoint can pin
 * a worker (SDK attempts × the per-attempt timeout). TESSERA_MODEL_RETRIES is checked against it at start.
 */
export const MAX_MODEL_ATTEMPTS = 10;

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * Exponential back-off with "equal jitter": the n-th retry (1-based) waits between half and all of
 * min(max, base * 2^(n-1)), so waits keep growing while concurrent workers spread out.
 */
export function backoffDelayMs(retry: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, retry - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * `Retry-After` as milliseconds to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent
 * or unparsable. A date in the past gives 0.
 */
export function parseRetryAfterMs(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before the next attempt: the server's Retry-After when it sent one (it knows its load better than
 * our back-off does), capped by maxMs so a "Retry-After: 3600" cannot pin a worker; otherwise the back-off.
 */
export function retryDelayMs(retry: number, retryAfterMs: number | undefined, settings: BackoffSettings): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, settings.maxMs);
  return backoffDelayMs(retry, settings);
}
