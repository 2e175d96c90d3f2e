/**
 * The detector Tessera uses for every tile: POSTs the encoded tile bytes to an HTTP model endpoint (OSML
 * contract: raw bytes in, GeoJSON FeatureCollection out) over a keep-alive undici Pool.
 *
 * Fixes OSML's HTTP detector weak points (reference §4.3, §16 items 14 and 16): every attempt has a time limit,
 * TLS is verified, the HTTP status is checked, 408/429/5xx and transport failures are retried with back-off
 * honouring Retry-After, the number of attempts is reported, and a response without a `features` array is an
 * error instead of an empty tile. Runs inside worker threads, so it uses nothing main-thread-only (no GDAL).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { Detection, DetectionContext, Detector } from './detector.js';
import { DetectorError, type DetectorErrorKind } from './detector-error.js';
import { BODY_EXCERPT_CHARS, parseFeatureCollection, plural, responseTooLarge } from './feature-collection.js';
import { MAX_FEATURES_PER_TILE, MAX_MODEL_RESPONSE_BYTES } from '../util/limits.js';
import { isRetryableStatus, parseRetryAfterMs, retryDelayMs, type BackoffSettings } from './retry-policy.js';

export { DetectorError } from './detector-error.js';
export type { DetectorErrorKind } from './detector-error.js';
export type { Detection, DetectionContext, Detector } from './detector.js';

export interface HttpDetectorOptions {
  /** Full invocation URL, e.g. `http://127.0.0.1:8080/invocations`. */
  url: string;
  /** Sent as `X-Amzn-SageMaker-Custom-Attributes` (e.g. `model_selection=flood`). */
  customAttributes?: string;
  /** Extra request headers; they may override the default Content-Type. */
  headers?: Record<string, string>;
  /** Limit for one attempt, from sending to the last body byte. Default 60000 (the SageMaker contract). */
  timeoutMs?: number;
  /** Attempts after the first one. Default 5. */
  maxRetries?: number;
  /** First back-off ceiling; doubles per retry. Default 200. */
  backoffBaseMs?: number;
  /** Cap on any single wait, including one asked for by Retry-After. Default 10000. */
  backoffMaxMs?: number;
  /** Largest answer body read (bytes); a larger one fails the tile unread. Default MAX_MODEL_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** Most features a tile's answer may hold. Default MAX_FEATURES_PER_TILE. */
  maxFeatures?: number;
}

const CUSTOM_ATTRIBUTES_HEADER = 'x-amzn-sagemaker-custom-attributes';
const MAX_CONNECT_TIMEOUT_MS = 10_000;

/** The result of one attempt, before deciding whether to retry. */
type AttemptOutcome =
  | { type: 'response'; status: number; retryAfter: string | string[] | undefined; body: string }
  | { type: 'too-large'; status: number; excerpt: string; bytes?: number }
  | { type: 'failure'; kind: Extract<DetectorErrorKind, 'connection' | 'timeout'>; error: unknown };

export class HttpDetector implements Detector {
  readonly #url: URL;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #backoff: BackoffSettings;
  readonly #maxResponseBytes: number;
  readonly #maxFeatures: number;
  /** Aborted by close(): cuts back-off waits short. */
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(options: HttpDetectorOptions) {
    this.#url = new URL(options.url);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:') {
      throw new TypeError(`HttpDetector needs an http(s) URL, got ${options.url}`);
    }
    this.#timeoutMs = positiveOr(options.timeoutMs, 60_000);
    this.#maxRetries = Math.max(0, Math.floor(options.maxRetries ?? 5));
    this.#backoff = {
      baseMs: Math.max(0, options.backoffBaseMs ?? 200),
      maxMs: Math.max(0, options.backoffMaxMs ?? 10_000),
    };
    this.#maxResponseBytes = positiveOr(options.maxResponseBytes, MAX_MODEL_RESPONSE_BYTES);
    this.#maxFeatures = positiveOr(options.maxFeatures, MAX_FEATURES_PER_TILE);
    this.#headers = lowerCaseKeys({
      'content-type': 'application/octet-stream',
      ...options.headers,
      ...(options.customAttributes === undefined ? {} : { [CUSTOM_ATTRIBUTES_HEADER]: options.customAttributes }),
    });
    this.#pool = new Pool(this.#url.origin, {
      connect: { timeout: Math.min(this.#timeoutMs, MAX_CONNECT_TIMEOUT_MS) },
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
    });
  }

  async detect(tile: Uint8Array, context: DetectionContext): Promise<Detection> {
    const maxAttempts = this.#maxRetries + 1;
    for (let attempt = 1; ; attempt += 1) {
      if (this.#closing.signal.aborted) throw this.#closedError(context, attempt - 1);
      const outcome = await this.#attempt(tile);
      if (outcome.type === 'too-large') throw responseTooLarge(outcome.status, context, attempt, this.#maxResponseBytes, outcome.excerpt, outcome.bytes);
      const retryable = outcome.type === 'failure' || isRetryableStatus(outcome.status);
      if (retryable && attempt < maxAttempts) {
        const retryAfterMs = outcome.type === 'response' ? parseRetryAfterMs(outcome.retryAfter) : undefined;
        try {
          await sleep(retryDelayMs(attempt, retryAfterMs, this.#backoff), undefined, { signal: this.#closing.signal });
        } catch {
          throw this.#closedError(context, attempt);
        }
        continue;
      }
      if (outcome.type === 'failure') throw this.#transportError(outcome, context, attempt);
      return { features: this.#parseFeatures(outcome.status, outcome.body, context, attempt), attempts: attempt };
    }
  }

  /** Stops retries, waits for in-flight attempts, then closes the connections. Safe to call twice. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closing.abort();
      this.#closed = this.#pool.close();
    }
    return this.#closed;
  }

  /** One POST, with a timer covering the whole exchange (undici's own timers only cover idle gaps). */
  async #attempt(tile: Uint8Array): Promise<AttemptOutcome> {
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), this.#timeoutMs);
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: `${this.#url.pathname}${this.#url.search}`,
        headers: this.#headers,
        body: tile,
        signal: timer.signal,
      });
      const declared = Number(response.headers['content-length']);
      if (declared > this.#maxResponseBytes) {
        // Known too large before a byte is read: not read at all (the connection is dropped, not drained).
        response.body.destroy();
        return { type: 'too-large', status: response.statusCode, excerpt: '', bytes: declared };
      }
      // A declared length within the limit is held to by undici; without one, the body is counted as it arrives.
      if (Number.isFinite(declared)) {
        return { type: 'response', status: response.statusCode, retryAfter: response.headers['retry-after'], body: await response.body.text() };
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > this.#maxResponseBytes) {
          response.body.destroy();
          return { type: 'too-large', status: response.statusCode, excerpt: Buffer.concat(chunks, Math.min(BODY_EXCERPT_CHARS, bytes - chunk.length)).toString('utf8') };
        }
        chunks.push(chunk);
      }
      return { type: 'response', status: response.statusCode, retryAfter: response.headers['retry-after'], body: Buffer.concat(chunks).toString('utf8') };
    } catch (error) {
      const kind = timer.signal.aborted || isTimeoutError(error) ? 'timeout' : 'connection';
      return { type: 'failure', kind, error };
    } finally {
      clearTimeout(timeout);
    }
  }

  #parseFeatures(status: number, body: string, context: DetectionContext, attempts: number): unknown[] {
    return parseFeatureCollection(status, body, context, attempts, this.#maxFeatures);
  }

  #transportError(
    outcome: Extract<AttemptOutcome, { type: 'failure' }>,
    context: DetectionContext,
    attempts: number,
  ): DetectorError {
    const what =
      outcome.kind === 'timeout'
        ? `model at ${this.#url.href} did not answer within ${this.#timeoutMs} ms`
        : `could not reach model at ${this.#url.href} (${describeError(outcome.error)})`;
    return new DetectorError(`${context.tileLabel}: ${what} after ${plural(attempts, 'attempt')}`, {
      kind: outcome.kind,
      tileLabel: context.tileLabel,
      attempts,
      cause: outcome.error,
    });
  }

  #closedError(context: DetectionContext, attempts: number): DetectorError {
    const what = `detector for ${this.#url.href} was closed`;
    return new DetectorError(`${context.tileLabel}: ${what} after ${plural(attempts, 'attempt')}`, {
      kind: 'connection',
      tileLabel: context.tileLabel,
      attempts,
    });
  }
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function isTimeoutError(error: unknown): boolean {
  return TIMEOUT_CODES.has(errorCode(error) ?? '');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`, looking through undici's wrapper errors. */
function describeError(error: unknown): string {
  const inner = (error as { cause?: unknown } | null)?.cause;
  const subject = errorCode(error) === undefined && errorCode(inner) !== undefined ? inner : error;
  const code = errorCode(subject);
  const message = subject instanceof Error ? subject.message : String(subject);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function positiveOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
