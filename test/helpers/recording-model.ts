// A loopback model that records every tile it is sent and answers an empty FeatureCollection: for tests that check
// the bytes the engine sends.
import { createServer } from 'node:http';

export interface RecordingModel {
  url: string;
  bodies: Buffer[];
  close(): Promise<void>;
}

export async function startRecordingModel(): Promise<RecordingModel> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"type":"FeatureCollection","features":[]}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/invocations`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
