/**
 * A detector for SageMaker real-time endpoints (reference §4.2): InvokeEndpoint through
 * `@aws-sdk/client-sagemaker-runtime`, tile bytes as the body, the request's `imageProcessorParameters` passed through
 * (only InvokeEndpoint's own parameters; anything else is dropped with a warning rather than failing the call).
 *
 * Retries are the SDK's (standard or adaptive retry strategy, bounded attempts: 5xx, throttling and transport errors
 * are retried, a ModelError or other 4xx is not). Every attempt has a time limit (the HTTP handler's request timeout)
 * and the whole call a deadline (an AbortSignal), so a hung endpoint never blocks a tile forever. An assumed role is
 * taken through STS and refreshed before it expires. The answer goes through the same FeatureCollection check as the
 * HTTP detector. Runs inside worker threads: options must survive structured cloning (no functions).
 */
import { InvokeEndpointCommand, SageMakerRuntimeClient, type InvokeEndpointCommandInput } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { assumedRoleCredentials, roleAssumptionErrorOf } from '../aws/assume-role.js';
import { createStsClient, type AwsCredentials } from '../aws/clients.js';
import type { Detection, DetectionContext, Detector } from './detector.js';
import { DetectorError, type DetectorErrorKind } from './detector-error.js';
import { BODY_EXCERPT_CHARS, bodyExcerpt, parseFeatureCollection, plural, responseTooLarge } from './feature-collection.js';
import { MAX_MODEL_RESPONSE_BYTES } from '../util/limits.js';
import { MAX_MODEL_ATTEMPTS } from './retry-policy.js';

/** InvokeEndpoint parameters a request may set through `imageProcessorParameters`. */
export const SAGEMAKER_INVOKE_PARAMETERS = [
  'ContentType',
  'Accept',
  'CustomAttributes',
  'TargetModel',
  'TargetVariant',
  'TargetContainerHostname',
  'InferenceId',
  'EnableExplanations',
  'InferenceComponentName',
  'SessionId',
] as const;
export type SageMakerInvokeParameter = (typeof SAGEMAKER_INVOKE_PARAMETERS)[number];

export interface SageMakerDetectorOptions {
  endpointName: string;
  region: string;
  /** Endpoint URL of the SageMaker runtime API, e.g. `http://127.0.0.1:8080` in tests. Absent: the regional endpoint. */
  endpoint?: string;
  /** `imageProcessorParameters`; unknown keys and non-string values are dropped with a warning. */
  parameters?: Record<string, unknown>;
  /** Limit for one attempt. Default 60000 (SageMaker's own invocation limit). */
  timeoutMs?: number;
  /** SDK attempts in all, including the first. Default 3, at most 10. */
  maxAttempts?: number;
  retryMode?: 'standard' | 'adaptive';
  /** Role to assume through STS for the calls. */
  assumedRole?: string;
  /** STS endpoint URL used to assume the role (tests: a loopback server). */
  stsEndpoint?: string;
  /** Static credentials; absent: the SDK's default chain (env, profile, container role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Where dropped-parameter warnings go. Default `console.warn`. */
  warn?: (message: string) => void;
}

/** Keeps InvokeEndpoint's own string parameters; returns what was dropped and why. */
export function filterInvokeParameters(parameters: Record<string, unknown> | null | undefined): {
  kept: Partial<Record<SageMakerInvokeParameter, string>>;
  dropped: string[];
} {
  const kept: Partial<Record<SageMakerInvokeParameter, string>> = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (!(SAGEMAKER_INVOKE_PARAMETERS as readonly string[]).includes(key)) dropped.push(`${key} (not an InvokeEndpoint parameter)`);
    else if (typeof value !== 'string') dropped.push(`${key} (not a string)`);
    else kept[key as SageMakerInvokeParameter] = value;
  }
  return { kept, dropped };
}


export class SageMakerDetector implements Detector {
  readonly #client: SageMakerRuntimeClient;
  readonly #endpointName: string;
  readonly #parameters: Partial<Record<SageMakerInvokeParameter, string>>;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  /** Aborted by close(): in-flight calls and their retries stop. */
  readonly #closing = new AbortController();
  #inFlight = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  constructor(options: SageMakerDetectorOptions) {
    if (!options.endpointName) throw new TypeError('SageMakerDetector needs an endpoint name');
    this.#endpointName = options.endpointName;
    this.#timeoutMs = options.timeoutMs !== undefined && Number.isFinite(options.timeoutMs) && options.timeoutMs > 0 ? options.timeoutMs : 60_000;
    this.#maxAttempts = Math.min(MAX_MODEL_ATTEMPTS, Math.max(1, Math.floor(options.maxAttempts ?? 3)));
    const { kept, dropped } = filterInvokeParameters(options.parameters);
    this.#parameters = kept;
    if (dropped.length) {
      (options.warn ?? console.warn)(`SageMaker endpoint ${options.endpointName}: imageProcessorParameters ignored: ${dropped.join(', ')}`);
    }
    let credentials: AwsCredentials | undefined = options.credentials;
    if (options.assumedRole) {
      const sts = createStsClient({
        region: options.region,
        ...(options.stsEndpoint ? { endpoints: { sts: options.stsEndpoint } } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
      credentials = assumedRoleCredentials(sts, options.assumedRole, { purpose: 'imageProcessor.assumedRole' });
    }
    this.#client = new SageMakerRuntimeClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
      maxAttempts: this.#maxAttempts,
      retryMode: options.retryMode ?? 'standard',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: Math.min(this.#timeoutMs, 10_000),
        requestTimeout: this.#timeoutMs,
        // An attempt past its limit is an error (TimeoutError, retried by the SDK), not just a logged warning.
        throwOnRequestTimeout: true,
      }),
    });
  }

  async detect(tile: Uint8Array, context: DetectionContext): Promise<Detection> {
    if (this.#closing.signal.aborted) throw this.#error('connection', `detector for SageMaker endpoint ${this.#endpointName} was closed`, context, 0);
    const input: InvokeEndpointCommandInput = {
      EndpointName: this.#endpointName,
      Body: tile,
      ContentType: 'application/octet-stream',
      ...this.#parameters,
    };
    // Deadline for the whole call, retries included: every attempt's limit plus room for the SDK's back-off.
    const deadline = AbortSignal.timeout(this.#timeoutMs * this.#maxAttempts + 5_000 * (this.#maxAttempts - 1) + 1_000);
    const signal = AbortSignal.any([deadline, this.#closing.signal]);
    const call = this.#client.send(new InvokeEndpointCommand(input), { abortSignal: signal });
    this.#inFlight.add(call);
    try {
      const output = await call;
      const attempts = output.$metadata.attempts ?? 1;
      const status = output.$metadata.httpStatusCode ?? 200;
      // SageMaker caps real-time answers itself (6 MB); a compatible server on another URL may not.
      if (output.Body && output.Body.byteLength > MAX_MODEL_RESPONSE_BYTES) {
        throw responseTooLarge(status, context, attempts, MAX_MODEL_RESPONSE_BYTES, new TextDecoder().decode(output.Body.subarray(0, 200)), output.Body.byteLength);
      }
      const body = output.Body ? new TextDecoder().decode(output.Body) : '';
      return { features: parseFeatureCollection(status, body, context, attempts), attempts };
    } catch (error) {
      if (error instanceof DetectorError) throw error;
      throw this.#mapError(error, context, deadline.aborted);
    } finally {
      this.#inFlight.delete(call);
    }
  }

  /** Stops in-flight calls and retries, then closes the connections. Safe to call twice. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closing.abort();
      this.#closed = Promise.allSettled([...this.#inFlight]).then(() => this.#client.destroy());
    }
    return this.#closed;
  }

  #mapError(error: unknown, context: DetectionContext, pastDeadline: boolean): DetectorError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number }; $response?: unknown; OriginalStatusCode?: number; OriginalMessage?: string; code?: string };
    const attempts = e.$metadata?.attempts ?? 1;
    const status = e.$metadata?.httpStatusCode;
    if (this.#closing.signal.aborted && !pastDeadline) {
      return this.#error('connection', `detector for SageMaker endpoint ${this.#endpointName} was closed`, context, attempts, error);
    }
    // The role's keys could not be had: the endpoint was never called, and "could not reach SageMaker" would mislead.
    const role = roleAssumptionErrorOf(error);
    if (role) return this.#error('connection', `${role.message}; SageMaker endpoint ${this.#endpointName} not called`, context, attempts, error);
    if (pastDeadline || e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || e.name === 'AbortError') {
      return this.#error('timeout', `SageMaker endpoint ${this.#endpointName} did not answer within ${this.#timeoutMs} ms`, context, attempts, error);
    }
    if (status !== undefined && status > 0) {
      // A ModelError (the container answered with an error) carries the model's status and message.
      const detail = e.OriginalMessage ?? e.message ?? '';
      const model = e.OriginalStatusCode !== undefined ? ` (model status ${e.OriginalStatusCode})` : '';
      return new DetectorError(
        `${context.tileLabel}: SageMaker endpoint ${this.#endpointName} returned HTTP ${status} ${e.name ?? 'error'}${model} after ${plural(attempts, 'attempt')}: ${bodyExcerpt(detail)}`,
        { kind: 'http-status', tileLabel: context.tileLabel, attempts, status, bodyExcerpt: detail.slice(0, BODY_EXCERPT_CHARS), cause: error },
      );
    }
    return this.#error('connection', `could not reach SageMaker endpoint ${this.#endpointName} (${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)})`, context, attempts, error);
  }

  #error(kind: DetectorErrorKind, what: string, context: DetectionContext, attempts: number, cause?: unknown): DetectorError {
    return new DetectorError(`${context.tileLabel}: ${what} after ${plural(attempts, 'attempt')}`, {
      kind,
      tileLabel: context.tileLabel,
      attempts,
      ...(cause === undefined ? {} : { cause }),
    });
  }
}
