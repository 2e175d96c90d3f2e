// `tessera serve` readiness against the local stack, in process: the health endpoint binds where
// TESSERA_HEALTH_HOST says (loopback addresses only here) and answers 503 naming what does not answer; a work queue
// whose redrive policy would dead-letter a message before TESSERA_MAX_DELIVERIES is a configuration problem.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { ConfigError, loadServiceConfig } from '../src/service/config.js';
import { redriveProblem, startService } from '../src/service/service.js';
import type { ServiceLogger } from '../src/service/context.js';
import { runCli } from './helpers/cli.js';
import { sleep } from './helpers/serve.js';

let stack: LocalStack;
let dlqArn: string;

beforeAll(async () => {
  stack = await startLocalStack({ visibilityTimeoutSeconds: 10 });
  const { Attributes } = await stack.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrls.imageDlq, AttributeNames: ['QueueArn'] }));
  dlqArn = Attributes!.QueueArn!;
});
afterAll(async () => stack?.stop());

/** A queue on the stack that dead-letters after `maxReceiveCount` receives. */
async function queueWithRedrive(name: string, maxReceiveCount: number): Promise<string> {
  const { QueueUrl } = await stack.clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }) } }));
  return QueueUrl!;
}

const lightService = { TESSERA_HEALTH_PORT: '0', TESSERA_WORKER_THREADS: '1', WORKERS: '1', TESSERA_RECEIVE_WAIT_SECONDS: '1', TESSERA_STOP_GRACE_SECONDS: '0' };

function capturingLogger() {
  const warnings: string[] = [];
  const logger: ServiceLogger = { debug() {}, info() {}, error() {}, warn: (_d: object, message: string) => void warnings.push(message) };
  return { warnings, logger };
}

describe('health endpoint', () => {
  test('binds to TESSERA_HEALTH_HOST; 503 naming the queue and the table that do not answer, then the redrive policy of a queue that appears', async () => {
    // The region queue does not exist yet (created below), the feature table never does.
    const lateQueue = stack.queueUrls.region.replace(/[^/]+$/, 'tessera-health-late');
    const config = loadServiceConfig({ ...stack.env, ...lightService, TESSERA_HEALTH_HOST: '127.0.0.2', REGION_QUEUE: lateQueue, FEATURE_TABLE: 'tessera-no-such-table' });
    const { warnings, logger } = capturingLogger();
    const service = await startService(config, { logger, metricsWrite: () => undefined });
    try {
      const url = new URL(service.healthUrl);
      expect(url.hostname).toBe('127.0.0.2');
      // Not on every interface: the same port on 127.0.0.1 has nobody listening.
      await expect(fetch(`http://127.0.0.1:${url.port}/health`)).rejects.toThrow();
      // The start could not read the missing queue's redrive policy: said, and not a reason to refuse to start.
      expect(warnings).toContain('REGION_QUEUE: could not read its redrive policy at start (the health check reports the queue)');

      const res = await fetch(service.healthUrl);
      expect(res.status).toBe(503);
      const report = (await res.json()) as { status: string; checks: Record<string, string> };
      expect(report.status).toBe('unavailable');
      expect(report.checks).toMatchObject({ image_queue: 'ok', image_dlq: 'ok', job_table: 'ok', region_table: 'ok', tile_workers: 'ok' });
      expect(report.checks.region_queue).toMatch(/NonExistentQueue|does not exist/i);
      expect(report.checks.feature_table).toMatch(/ResourceNotFound|not found/i);

      // The queue appears, dead-lettering after 1 receive while TESSERA_MAX_DELIVERIES is 3: still not ready, and why.
      expect(await queueWithRedrive('tessera-health-late', 1)).toBe(lateQueue);
      await sleep(2100); // the health report is cached for 2 s
      const again = (await (await fetch(service.healthUrl)).json()) as { checks: Record<string, string> };
      expect(again.checks.region_queue).toBe(redriveProblem('REGION_QUEUE', JSON.stringify({ maxReceiveCount: 1 }), 3));
      expect(again.checks.region_queue).toMatch(/^REGION_QUEUE: .* after 1 receive \(maxReceiveCount\), fewer than TESSERA_MAX_DELIVERIES=3/);
    } finally {
      await service.stop();
    }
  }, 30_000);

  test('TESSERA_HEALTH_HOST defaults to loopback and must be an address or host name', () => {
    const base = { ...stack.env };
    expect(loadServiceConfig(base).healthHost).toBe('127.0.0.1');
    expect(loadServiceConfig({ ...base, TESSERA_HEALTH_HOST: '0.0.0.0' }).healthHost).toBe('0.0.0.0');
    expect(loadServiceConfig({ ...base, TESSERA_HEALTH_HOST: 'localhost' }).healthHost).toBe('localhost');
    expect(() => loadServiceConfig({ ...base, TESSERA_HEALTH_HOST: 'http://0.0.0.0:8090' })).toThrow(/TESSERA_HEALTH_HOST must be an IP address or host name/);
  });
});

describe('redrive policy against TESSERA_MAX_DELIVERIES', () => {
  test('the rule: only a maxReceiveCount below TESSERA_MAX_DELIVERIES is a problem', () => {
    expect(redriveProblem('IMAGE_QUEUE', undefined, 3)).toBeUndefined(); // no dead-letter queue: SQS never takes it away
    expect(redriveProblem('IMAGE_QUEUE', '{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}', 3)).toBeUndefined(); // the 3rd delivery records FAILED
    expect(redriveProblem('IMAGE_QUEUE', '{"deadLetterTargetArn":"arn:x","maxReceiveCount":"5"}', 3)).toBeUndefined();
    expect(redriveProblem('IMAGE_QUEUE', '{"deadLetterTargetArn":"arn:x","maxReceiveCount":"2"}', 3)).toMatch(/^IMAGE_QUEUE: .*after 2 receives.*TESSERA_MAX_DELIVERIES=3/);
  });

  test('a work queue that dead-letters sooner stops the start with one line; the same limit starts', async () => {
    const queue = await queueWithRedrive('tessera-health-redrive-2', 2);
    let err: unknown;
    try {
      const s = await startService(loadServiceConfig({ ...stack.env, ...lightService, IMAGE_QUEUE: queue, TESSERA_MAX_DELIVERIES: '3' }), { logger: capturingLogger().logger });
      await s.stop();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([redriveProblem('IMAGE_QUEUE', '{"maxReceiveCount":2}', 3)]);
    expect((err as ConfigError).problems[0]).toContain('set TESSERA_MAX_DELIVERIES to at most 2 or raise maxReceiveCount');

    const ok = await startService(loadServiceConfig({ ...stack.env, ...lightService, IMAGE_QUEUE: queue, TESSERA_MAX_DELIVERIES: '2' }), { logger: capturingLogger().logger, metricsWrite: () => undefined });
    expect((await fetch(ok.healthUrl)).status).toBe(200);
    await ok.stop();

    // And through the command, as the environment's problems are reported.
    const r = await runCli(['serve'], { env: { ...stack.env, ...lightService, IMAGE_QUEUE: queue }, timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`tessera serve: configuration: 1 problem:\n  - ${redriveProblem('IMAGE_QUEUE', '{"maxReceiveCount":2}', 3)}\n`);
  }, 30_000);
});
