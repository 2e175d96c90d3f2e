import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/dev-stack/local-stack.js';
import { StatusPublisher, formatFailedTiles } from '../src/status/sns-status.js';
import { Metrics, METRICS_NAMESPACE } from '../src/metrics/emf.js';
import { createSnsClient } from '../src/aws/clients.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack();
});
afterAll(async () => stack?.stop());

function capturingLogger() {
  const warnings: { details: object; message: string }[] = [];
  return { warnings, logger: { info() {}, error() {}, warn: (details: object, message: string) => void warnings.push({ details, message }) } };
}

const publisher = (extra: Partial<ConstructorParameters<typeof StatusPublisher>[0]> = {}) =>
  new StatusPublisher({ sns: stack.clients.sns, imageTopicArn: stack.topicArns.image, regionTopicArn: stack.topicArns.region, sleep: async () => undefined, ...extra });

describe('SNS status', () => {
  test('image status carries OSML attributes, all String, falsy ones omitted', async () => {
    stack.sns.clear();
    const p = publisher();
    expect(await p.publishImageStatus({ status: 'STARTED', jobId: 'job-1', imageId: 'job-1:s3://b/i.ntf', processingDurationSeconds: 0 })).toBe(true);
    expect(await p.publishImageStatus({ status: 'SUCCESS', jobId: 'job-1', imageId: 'job-1:s3://b/i.ntf', processingDurationSeconds: 12.5 })).toBe(true);
    const [started, done] = stack.sns.messages(stack.topicArns.image);
    expect(started.attributes).toEqual({
      status: { dataType: 'String', stringValue: 'STARTED' },
      image_status: { dataType: 'String', stringValue: 'STARTED' },
      job_id: { dataType: 'String', stringValue: 'job-1' },
      image_id: { dataType: 'String', stringValue: 'job-1:s3://b/i.ntf' },
    });
    expect(started.message).toBe('StatusMonitor update: STARTED job-1: Started image request');
    expect(done.attributes.processing_duration).toEqual({ dataType: 'String', stringValue: '12.5' });
    expect(done.attributes.image_status.stringValue).toBe('SUCCESS');
    expect(done.message).toBe('StatusMonitor update: SUCCESS job-1: Completed image processing');
  });

  test('region status carries region_id, duration in ms and failed tiles', async () => {
    stack.sns.clear();
    await publisher().publishRegionStatus({
      status: 'PARTIAL',
      jobId: 'job-2',
      imageId: 'job-2:img',
      regionId: '(0, 0)(4096, 4096)-job-2',
      processingDurationMs: 5230,
      failedTiles: [[[0, 512], [512, 512]], [[512, 0], [512, 512]]],
    });
    const [m] = stack.sns.messages(stack.topicArns.region);
    expect(Object.keys(m.attributes).sort()).toEqual(['failed_tiles', 'image_id', 'job_id', 'processing_duration', 'region_id', 'status']);
    expect(m.attributes.region_id.stringValue).toBe('(0, 0)(4096, 4096)-job-2');
    expect(m.attributes.processing_duration.stringValue).toBe('5230');
    expect(m.attributes.failed_tiles.stringValue).toBe("[{'1': [[0, 512], [512, 512]]}, {'2': [[512, 0], [512, 512]]}]");
    expect(Object.values(m.attributes).every((a) => a.dataType === 'String')).toBe(true);
    expect(formatFailedTiles([])).toBe('[]');
  });

  test('publish failures are retried and never thrown', async () => {
    stack.sns.clear();
    const { warnings, logger } = capturingLogger();
    // One SDK attempt per call, so each injected failure reaches the publisher's own retry.
    const sns = createSnsClient(stack.config, { maxAttempts: 1 });
    const p = publisher({ sns, logger, maxAttempts: 3 });
    stack.sns.failNext(2);
    expect(await p.publishImageStatus({ status: 'IN_PROGRESS', jobId: 'j', imageId: 'j:i' })).toBe(true);
    expect(stack.sns.messages()).toHaveLength(1);
    expect(warnings.map((w) => w.message)).toEqual(['publishing image status failed: retrying', 'publishing image status failed: retrying']);

    warnings.length = 0;
    stack.sns.failNext(10);
    expect(await p.publishRegionStatus({ status: 'FAILED', jobId: 'j', imageId: 'j:i', regionId: 'r' })).toBe(false);
    expect(warnings.at(-1)!.message).toBe('publishing region status failed: giving up');
    stack.sns.failNext(0);

    // A topic that does not exist fails the same way, without throwing.
    expect(await publisher({ imageTopicArn: 'arn:aws:sns:us-east-1:000000000000:missing', maxAttempts: 1 }).publishImageStatus({ status: 'FAILED', jobId: 'j', imageId: 'j:i' })).toBe(false);
    sns.destroy();
  });

  test('without a topic nothing is published and the gap is logged once', async () => {
    const { warnings, logger } = capturingLogger();
    const p = new StatusPublisher({ sns: stack.clients.sns, logger });
    expect(await p.publishImageStatus({ status: 'STARTED', jobId: 'j', imageId: 'i' })).toBe(false);
    expect(await p.publishImageStatus({ status: 'SUCCESS', jobId: 'j', imageId: 'i' })).toBe(false);
    expect(warnings).toHaveLength(1);
  });
});

describe('EMF metrics', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, metrics: new Metrics({ write: (l) => void lines.push(l) }) };
  };

  test('events use OSML namespace, metric names, units and dimension sets', async () => {
    const { lines, metrics } = capture();
    metrics.record('ImageProcessing', { duration: 12.5, invocations: 1, errors: 0 }, { modelName: 'centerpoint', inputFormat: 'NITF' }, { job_id: 'job-1' });
    metrics.record('FeatureStorage', { duration: 0.02, invocations: 1 });
    expect(lines).toHaveLength(0); // nothing is written before a flush
    await metrics.flush();
    expect(lines).toHaveLength(2);
    const [image, storage] = lines.map((l) => JSON.parse(l));

    expect(image._aws.CloudWatchMetrics).toHaveLength(1);
    const directive = image._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions).toEqual([['Operation', 'ModelName', 'InputFormat']]);
    expect(directive.Metrics).toHaveLength(3);
    expect(directive.Metrics).toEqual(expect.arrayContaining([
      { Name: 'Duration', Unit: 'Seconds' },
      { Name: 'Invocations', Unit: 'Count' },
      { Name: 'Errors', Unit: 'Count' },
    ]));
    expect(typeof image._aws.Timestamp).toBe('number');
    expect(image).toMatchObject({ Operation: 'ImageProcessing', ModelName: 'centerpoint', InputFormat: 'NITF', Duration: 12.5, Invocations: 1, Errors: 0, job_id: 'job-1' });
    expect(image).not.toHaveProperty('ServiceName');
    expect(image).not.toHaveProperty('LogGroup');

    expect(storage._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Operation']]);
    expect(storage._aws.CloudWatchMetrics[0].Namespace).toBe('OSML/ModelRunner');
    expect(storage).toMatchObject({ Operation: 'FeatureStorage', Invocations: 1 });
  });

  test('time() records duration and invocations, and an error when the work throws', async () => {
    const { lines, metrics } = capture();
    expect(await metrics.time('ModelInvocation', { modelName: 'http://127.0.0.1:1/invocations' }, async () => 42)).toBe(42);
    await expect(metrics.time('TileProcessing', { modelName: 'm' }, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await metrics.flush();
    const [ok, failed] = lines.map((l) => JSON.parse(l));
    expect(ok).toMatchObject({ Operation: 'ModelInvocation', Invocations: 1 });
    expect(ok).not.toHaveProperty('Errors');
    expect(ok.Duration).toBeGreaterThanOrEqual(0);
    expect(failed).toMatchObject({ Operation: 'TileProcessing', ModelName: 'm', Invocations: 1, Errors: 1 });
  });

  test('events with the same dimensions are batched into value arrays (100 values per metric per document), each value one sample', async () => {
    const lines: string[] = [];
    const metrics = new Metrics({ write: (l) => void lines.push(l), maxPending: 10_000 });
    // 250 tiles: durations 0.001 .. 0.250 s, every 50th tile an error; one event of another image in between.
    for (let i = 1; i <= 250; i++) {
      metrics.record('TileGeneration', { duration: i / 1000, invocations: 1, ...(i % 50 === 0 ? { errors: 1 } : {}) }, { inputFormat: 'NITF' });
      if (i === 120) metrics.record('TileGeneration', { duration: 9, invocations: 1 }, { inputFormat: 'GTIFF' });
    }
    await metrics.flush();
    const docs = lines.map((l) => JSON.parse(l));
    const nitf = docs.filter((d) => d.InputFormat === 'NITF');
    const gtiff = docs.filter((d) => d.InputFormat === 'GTIFF');
    // ceil(250 / 100) documents instead of 250; the other dimension value keeps its own document.
    expect(nitf).toHaveLength(3);
    expect(gtiff).toHaveLength(1);
    expect(gtiff[0]).toMatchObject({ Duration: 9, Invocations: 1 });
    const values = (d: Record<string, unknown>, name: string) => [d[name] ?? []].flat() as number[];
    for (const d of nitf) {
      expect(d._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Operation', 'InputFormat']]);
      expect(values(d, 'Duration').length).toBeLessThanOrEqual(100);
    }
    const all = (name: string) => nitf.flatMap((d) => values(d, name));
    expect(all('Invocations')).toHaveLength(250);
    expect(all('Duration').sort((a, b) => a - b)).toEqual(Array.from({ length: 250 }, (_, k) => (k + 1) / 1000));
    expect(all('Errors')).toEqual([1, 1, 1, 1, 1]);

    // Different properties are different events; nothing is left after a flush; maxPending counts events.
    lines.length = 0;
    const small = new Metrics({ write: (l) => void lines.push(l), maxPending: 3 });
    small.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'a' });
    small.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'b' });
    expect(lines).toHaveLength(0);
    small.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'a' }); // the third event flushes
    await small.flush();
    expect(lines.map((l) => JSON.parse(l)).map((d) => [d.imageId, d.Invocations])).toEqual([['a', [1, 1]], ['b', 1]]);
    await small.flush();
    expect(lines).toHaveLength(2);
  });

  test('dimension values EMF would refuse (not ASCII, over 1024 characters, blank) are written as ones it accepts, told once; record never throws', async () => {
    const lines: string[] = [];
    const warnings: string[] = [];
    const metrics = new Metrics({ write: (l) => void lines.push(l), logger: { warn: (_d, m) => void warnings.push(m) } });
    // An HTTP model URL passes request validation up to 2048 bytes, in any script.
    const accented = 'http://127.0.0.1:1/modèle'; // è is U+00E8: C3 A8 in UTF-8
    const longA = `http://127.0.0.1:1/${'a'.repeat(1500)}`;
    const longB = `http://127.0.0.1:1/${'a'.repeat(1499)}b`;
    for (const modelName of [accented, accented, longA, longB, '   ']) {
      expect(() => metrics.record('TileProcessing', { invocations: 1 }, { modelName })).not.toThrow();
    }
    await metrics.flush();
    const names = lines.map((l) => JSON.parse(l) as Record<string, unknown>).map((d) => d.ModelName as string);
    expect(names).toHaveLength(4);
    expect(names[0]).toBe('http://127.0.0.1:1/mod%C3%A8le');
    expect(JSON.parse(lines[0]).Invocations).toEqual([1, 1]);
    for (const long of [names[1], names[2]]) {
      expect(long).toHaveLength(1024);
      expect(long.slice(0, 1007)).toBe(longA.slice(0, 1007));
      expect(long).toMatch(/#[0-9a-f]{16}$/);
    }
    expect(names[1]).not.toBe(names[2]); // two long names stay two dimension values
    expect(names[3]).toBe('(blank)');
    // Each kind of change told once, however many events had it.
    expect(warnings).toHaveLength(3);
    expect(warnings.some((w) => /ModelName .*not ASCII/.test(w))).toBe(true);
    expect(warnings.some((w) => /ModelName .*longer than 1024/.test(w))).toBe(true);
  });

  test('an event aws-embedded-metrics still refuses is dropped and told once; the others are written', async () => {
    const lines: string[] = [];
    const warnings: string[] = [];
    const metrics = new Metrics({ write: (l) => void lines.push(l), logger: { warn: (_d, m) => void warnings.push(m) } });
    // The library refuses values beyond Number.MAX_SAFE_INTEGER (InvalidMetricError).
    expect(() => metrics.record('FeatureStorage', { duration: 2 ** 60 })).not.toThrow();
    expect(() => metrics.record('FeatureStorage', { duration: 2 ** 61 })).not.toThrow();
    metrics.record('FeatureSelection', { invocations: 1 });
    await metrics.flush();
    expect(warnings).toEqual(['a FeatureStorage metric event was refused by aws-embedded-metrics and dropped']);
    const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs.find((d) => d.Operation === 'FeatureSelection')).toMatchObject({ Invocations: 1 });
    expect(docs.some((d) => d.Duration === 2 ** 60 || d.Duration === 2 ** 61)).toBe(false);
  });

  test('a flush that fails is told and dropped; every later flush still writes', async () => {
    const lines: string[] = [];
    const warnings: string[] = [];
    let failWrites = 1;
    const write = (l: string) => {
      if (failWrites > 0) {
        failWrites--;
        throw new Error('EPIPE: stdout closed');
      }
      lines.push(l);
    };
    const metrics = new Metrics({ write, logger: { warn: (_d, m) => void warnings.push(m) } });
    metrics.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'lost' });
    await expect(metrics.flush()).resolves.toBeUndefined();
    expect(lines).toHaveLength(0);
    expect(warnings).toEqual(['writing a metrics document failed: its events are dropped']);
    for (const imageId of ['a', 'b']) {
      metrics.record('FeatureStorage', { invocations: 1 }, {}, { imageId });
      await metrics.flush();
    }
    expect(lines.map((l) => (JSON.parse(l) as { imageId: string }).imageId)).toEqual(['a', 'b']);
    // In one flush, a document that fails does not keep the others from being written.
    failWrites = 1;
    metrics.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'c' });
    metrics.record('FeatureStorage', { invocations: 1 }, {}, { imageId: 'd' });
    await metrics.flush();
    expect(lines.map((l) => (JSON.parse(l) as { imageId: string }).imageId)).toEqual(['a', 'b', 'd']);
  });

  test('by default lines go to stdout', async () => {
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      const metrics = new Metrics();
      metrics.record('RegionProcessing', { throttles: 1 }, { modelName: 'm', inputFormat: 'GTIFF' });
      await metrics.flush();
    } finally {
      process.stdout.write = original;
    }
    const line = writes.find((w) => w.includes('"Throttles"'))!;
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ Operation: 'RegionProcessing', Throttles: 1, InputFormat: 'GTIFF' });
  });
});
