// A loopback stand-in for the SageMaker control plane: nothing real can serve DescribeEndpoint/ListTags here, so
// this HTTP server on 127.0.0.1 speaks the awsJson1_1 protocol the SDK uses (POST /, header
// `X-Amz-Target: SageMaker.<Operation>`, JSON bodies) for the two operations Tessera calls, answers from a table of
// endpoints set by the test, and records every request so tests can count them.
import { createServer } from 'node:http';

export interface FakeVariant {
  VariantName: string;
  CurrentInstanceCount?: number;
  CurrentServerlessConfig?: { MemorySizeInMB: number; MaxConcurrency: number };
}

export interface FakeEndpoint {
  variants: FakeVariant[];
  /** Tag pages as ListTags returns them (more than one page: NextToken "1", "2", ...). */
  tagPages?: { Key: string; Value: string }[][];
  /** Answer DescribeEndpoint with this error (HTTP 400, awsJson1_1 error body). */
  describeError?: string;
  /** Answer ListTags with this error. */
  listTagsError?: string;
}

export interface SageMakerApiRequest {
  target: string;
  body: Record<string, unknown>;
}

export interface FakeSageMakerApi {
  url: string;
  endpoints: Map<string, FakeEndpoint>;
  requests: SageMakerApiRequest[];
  count(operation: 'DescribeEndpoint' | 'ListTags', name?: string): number;
  close(): Promise<void>;
}

export const endpointArn = (name: string) => `arn:aws:sagemaker:us-east-1:000000000000:endpoint/${name.toLowerCase()}`;

export async function startFakeSageMakerApi(endpoints: Record<string, FakeEndpoint> = {}): Promise<FakeSageMakerApi> {
  const table = new Map(Object.entries(endpoints));
  const requests: SageMakerApiRequest[] = [];
  const byArn = (arn: unknown) => [...table.entries()].find(([name]) => endpointArn(name) === arn);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      requests.push({ target, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      const error = (type: string, message: string) => send(400, { __type: type, message });
      if (target === 'SageMaker.DescribeEndpoint') {
        const name = String(body.EndpointName);
        const ep = table.get(name);
        if (!ep) return error('ValidationException', `Could not find endpoint "${name}".`);
        if (ep.describeError) return error(ep.describeError, 'not authorized to perform: sagemaker:DescribeEndpoint');
        return send(200, {
          EndpointName: name,
          EndpointArn: endpointArn(name),
          EndpointConfigName: `${name}-config`,
          EndpointStatus: 'InService',
          CreationTime: 1_700_000_000,
          LastModifiedTime: 1_700_000_000,
          ProductionVariants: ep.variants.map((v) => ({ CurrentWeight: 1, DesiredWeight: 1, ...v })),
        });
      }
      if (target === 'SageMaker.ListTags') {
        const found = byArn(body.ResourceArn);
        if (!found) return error('ValidationException', `Resource ${String(body.ResourceArn)} not found`);
        const ep = found[1];
        if (ep.listTagsError) return error(ep.listTagsError, 'not authorized to perform: sagemaker:ListTags');
        const pages = ep.tagPages ?? [[]];
        const page = Number(body.NextToken ?? 0);
        return send(200, { Tags: pages[page] ?? [], ...(page + 1 < pages.length ? { NextToken: String(page + 1) } : {}) });
      }
      return error('UnknownOperationException', `unknown operation ${target}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    endpoints: table,
    requests,
    count: (operation, name) =>
      requests.filter((r) => r.target === `SageMaker.${operation}` && (name === undefined || r.body.EndpointName === name || r.body.ResourceArn === endpointArn(name))).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
