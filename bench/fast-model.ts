/**
 * A loopback model that answers at once (one detection at the tile centre, no decoding), run in its own process so
 * its CPU does not count against the engine. Prints its URL on stdout.
 */
import { createServer } from 'node:http';

const body = JSON.stringify({
  type: 'FeatureCollection',
  features: [{ type: 'Feature', geometry: null, properties: { imageBBox: [200, 200, 300, 300], featureClasses: [{ iri: 'bench', score: 0.9 }] } }],
});
const server = createServer((req, res) => {
  if (req.method === 'GET') {
    // GET /cpu: this process's CPU time so far (ms), so the bench can say what the model itself cost per tile.
    if (req.url === '/cpu') {
      const { user, system } = process.cpuUsage();
      res.end(JSON.stringify({ cpuMs: (user + system) / 1000 }));
      return;
    }
    res.end('\n');
    return;
  }
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
