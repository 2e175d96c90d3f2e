/**
 * A loopback model that answers at once (one detection at the tile centre, no decoding), run in its own process.
 * It shares the machine's cores with the engine, so it should cost as little as a model can: it speaks just enough
 * HTTP/1.1 on raw sockets (Content-Length bodies, keep-alive, pipelining) to skip each request's body and send one
 * canned answer. node:http cost about three times as much CPU per request (0.24 ms against the engine's ~2 ms per
 * 512² tile), which a real endpoint on another machine never takes from the engine. Prints its URL on stdout.
 */
import { createServer, type Socket } from 'node:net';

const detections = JSON.stringify({
  type: 'FeatureCollection',
  features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [200, 200, 300, 300], featureClasses: [{ iri: 'bench', score: 0.9 }] } }],
});
const answer = (status: string, body: string) =>
  Buffer.from(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nkeep-alive: timeout=60\r\n\r\n${body}`);
const DETECTIONS = answer('200 OK', detections);
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;

function serve(socket: Socket): void {
  let header: Buffer = Buffer.alloc(0); // bytes of a request head not yet complete
  let bodyLeft = 0; // body bytes of the current request still to skip
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (bodyLeft > 0) {
        const skip = Math.min(bodyLeft, chunk.length - at);
        bodyLeft -= skip;
        at += skip;
        if (bodyLeft === 0) socket.write(DETECTIONS);
        continue;
      }
      const rest = chunk.subarray(at);
      const search = header.length > 0 ? Buffer.concat([header, rest]) : rest;
      const end = search.indexOf(HEADER_END);
      if (end < 0) {
        if (search.length > MAX_HEADER_BYTES) return void socket.end(answer('431 Request Header Fields Too Large', '{}'));
        header = Buffer.from(search);
        return;
      }
      const head = search.subarray(0, end).toString('latin1');
      at += end + HEADER_END.length - header.length;
      header = Buffer.alloc(0);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (/\r\ntransfer-encoding:/i.test(head)) return void socket.end(answer('411 Length Required', '{}'));
      if (head.startsWith('GET /cpu ')) {
        // This process's CPU time so far (ms), so the bench can say what the model itself cost per tile.
        const { user, system } = process.cpuUsage();
        socket.write(answer('200 OK', JSON.stringify({ cpuMs: (user + system) / 1000 })));
        continue;
      }
      bodyLeft = length ? Number(length[1]) : 0;
      if (bodyLeft === 0) socket.write(head.startsWith('GET ') ? answer('200 OK', '{}') : DETECTIONS);
    }
  });
}

const server = createServer(serve);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
