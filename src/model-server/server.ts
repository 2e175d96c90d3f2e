/**
 * The OSML test models (centerpoint, flood, failure) served over HTTP like a SageMaker container, so Tessera's
 * detectors can be exercised end to end without AWS. Bound to 127.0.0.1 only: it is a test fixture.
 *
 * Routes: GET /ping; POST /invocations and POST /endpoints/{name}/invocations (the SageMaker runtime path; the
 * endpoint name is ignored, one server hosts all three models). The model comes from CustomAttributes
 * `model_selection`, else env DEFAULT_MODEL_SELECTION, else MODEL_SELECTION.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CUSTOM_ATTRIBUTES_HEADER, parseCustomAttributes } from './custom-attributes.js';
import { paramsForRequest, readModelServerSettings, selectModelName } from './model-settings.js';
import { textResponse, type ModelResponse } from './models/model.js';
import { INVALID_MODEL_SELECTION_RESPONSE, findTestModel } from './models/registry.js';
import { defaultRng, type Rng } from './random.js';
import { simulatedLatencyMs } from './simulated-latency.js';
import { UnreadableTileError, decodeTile } from './tile-decoder.js';

/** Structural subset of a pino logger, so callers can pass theirs without this module importing pino. */
export interface ModelServerLogger {
  debug(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface ModelServerOptions {
  /** 0 or absent: pick a free port. */
  port?: number;
  host?: '127.0.0.1';
  /** Environment read once at start (BBOX_PERCENTAGE, ENABLE_SEGMENTATION, ...); default process.env. */
  env?: NodeJS.ProcessEnv;
  logger?: ModelServerLogger;
  /** Larger request bodies get 413; default 64 MiB (SageMaker itself caps payloads at 6 MB). */
  maxBodyBytes?: number;
  /** Random source for ids, flood boxes and latency; default Math.random. */
  rng?: Rng;
}

export interface ModelServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops listening, cuts open connections and cancels pending simulated delays. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

const INVOCATIONS_PATH = /^\/(?:endpoints\/[^/]+\/)?invocations$/;

const silentLogger: ModelServerLogger = { debug: () => {}, warn: () => {} };

class BodyTooLargeError extends Error {}
class ServerClosingError extends Error {}

export async function startModelServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  const host = '127.0.0.1'; // never 0.0.0.0, whatever the caller passes
  const settings = readModelServerSettings(options.env ?? process.env);
  const logger = options.logger ?? silentLogger;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const rng = options.rng ?? defaultRng;
  // Simulated delays in progress, cut short by close(). Kept as timers rather than one shared AbortSignal: a signal
  // takes a listener per waiting request, and more than 10 concurrent requests (any tessera run) made Node warn of
  // a listener leak (MaxListenersExceededWarning).
  let closing = false;
  const delays = new Set<{ timer: NodeJS.Timeout; cancel: () => void }>();
  const delay = (ms: number) => new Promise<void>((resolve, reject) => {
    if (closing) return reject(new ServerClosingError());
    const entry = {
      timer: setTimeout(() => {
        delays.delete(entry);
        resolve();
      }, ms),
      cancel: () => reject(new ServerClosingError()),
    };
    delays.add(entry);
  });

  async function invoke(request: IncomingMessage): Promise<ModelResponse> {
    const attributes = parseCustomAttributes(request.headers[CUSTOM_ATTRIBUTES_HEADER]);
    const model = findTestModel(selectModelName(attributes, settings));
    if (!model) {
      await discardBody(request);
      return INVALID_MODEL_SELECTION_RESPONSE;
    }
    const body = await readBody(request, maxBodyBytes);
    const params = paramsForRequest(settings.params, attributes);
    if (model.simulatesLatency) {
      const latencyMs = simulatedLatencyMs(attributes, rng);
      if (latencyMs > 0) await delay(latencyMs);
    }
    try {
      const tile = await decodeTile(body, { bandMeansNeeded: (bandCount) => model.bandMeansNeeded(bandCount) });
      return model.respond(tile, params, rng);
    } catch (error) {
      if (error instanceof UnreadableTileError) return model.respondToUnreadableTile(error);
      logger.warn({ err: error, model: model.name }, 'test model failed');
      return model.respondToError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async function route(request: IncomingMessage): Promise<ModelResponse & { allow?: string }> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/ping') {
      return request.method === 'GET' ? textResponse(200, '\n') : methodNotAllowed('GET');
    }
    if (INVOCATIONS_PATH.test(path)) {
      return request.method === 'POST' ? invoke(request) : methodNotAllowed('POST');
    }
    return textResponse(404, 'Not Found');
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let answer: ModelResponse & { allow?: string };
    try {
      answer = await route(request);
      if (answer.delayMs) await delay(answer.delayMs);
    } catch (error) {
      if (closing) {
        response.destroy();
        return;
      }
      if (error instanceof BodyTooLargeError) {
        answer = textResponse(413, `Request body larger than ${maxBodyBytes} bytes`);
        response.setHeader('Connection', 'close'); // the rest of the upload is not read
      } else {
        logger.warn({ err: error }, 'model server request failed');
        answer = textResponse(500, 'Unable to process request.');
      }
    }
    logger.debug({ method: request.method, url: request.url, status: answer.status }, 'model server request');
    if (answer.allow) response.setHeader('Allow', answer.allow);
    response.writeHead(answer.status, {
      'Content-Type': answer.contentType,
      'Content-Length': Buffer.byteLength(answer.body),
    });
    response.end(answer.body);
  }

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      closing = true;
      for (const d of delays) {
        clearTimeout(d.timer);
        d.cancel();
      }
      delays.clear();
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Collects the request body, failing fast when Content-Length announces too much. On overflow the rest is
 * drained and discarded (not destroyed) so that the 413 can still be written.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const announced = Number(request.headers['content-length']);
    if (Number.isFinite(announced) && announced > maxBytes) {
      request.resume();
      reject(new BodyTooLargeError());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData).off('end', onEnd);
      request.resume();
      reject(new BodyTooLargeError());
    };
    const onEnd = () => resolve(Buffer.concat(chunks, size));
    request.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

async function discardBody(request: IncomingMessage): Promise<void> {
  request.resume();
  if (request.readableEnded) return;
  await new Promise<void>((resolve) => request.once('end', resolve).once('error', () => resolve()));
}

function methodNotAllowed(allow: string): ModelResponse & { allow: string } {
  return { ...textResponse(405, 'Method Not Allowed'), allow };
}
