// Loopback stand-ins for the imageReadRole tests: an STS that answers AssumeRole, and a recording proxy in front of
// s3rver that notes which keys signed each S3 request.
//
// The STS is a mock because nothing real can serve STS here: it answers the Query-protocol AssumeRole with keys made
// up per role (ASIA<ROLE>1, ASIA<ROLE>2 ... with a secret and session token to match) and registers each key pair
// with s3rver, the way IAM would make the role's keys valid for S3. s3rver then checks every request's SigV4
// signature with the secret of the key that signed it, so a request signed with the wrong keys fails.
import { fork } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface S3rverProcess {
  port: number;
  /** Makes a key pair valid for s3rver (resolves once it is). */
  registerKeyPair(accessKeyId: string, secretAccessKey: string): Promise<void>;
  stop(): Promise<void>;
}

/** s3rver on 127.0.0.1 in a child process (s3rver-child.mjs says why), storing objects in `directory`. */
export function startS3rverProcess(directory: string, keyPairs: [string, string][]): Promise<S3rverProcess> {
  const child = fork(fileURLToPath(new URL('./s3rver-child.mjs', import.meta.url)), [JSON.stringify({ directory, keyPairs })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 0;
  const acks = new Map<number, () => void>();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver process exited with ${code} before it was ready`)));
    child.on('message', (m: { port?: number; registered?: number }) => {
      if (m.registered !== undefined) acks.get(m.registered)?.();
      if (m.port === undefined) return;
      resolve({
        port: m.port,
        registerKeyPair: (id, secret) =>
          new Promise<void>((done) => {
            const n = nextId++;
            acks.set(n, () => {
              acks.delete(n);
              done();
            });
            child.send({ id: n, keyPair: [id, secret] });
          }),
        stop: async () => {
          if (child.connected) child.disconnect();
          await exited;
        },
      });
    });
  });
}

export interface SeenS3Request {
  method: string;
  /** Decoded path: /bucket/key. */
  path: string;
  range: string | undefined;
  /** The access key id of the SigV4 Authorization header (Credential=AKID/...). */
  keyId: string | undefined;
  /** x-amz-security-token, when sent. */
  token: string | undefined;
  status?: number;
}

export interface RecordingProxy {
  url: string;
  /** host:port, for GDAL's AWS_S3_ENDPOINT. */
  hostPort: string;
  seen: SeenS3Request[];
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Forwards every request unchanged (Host included, so signatures still verify) to 127.0.0.1:targetPort. */
export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  const seen: SeenS3Request[] = [];
  const server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const entry: SeenS3Request = {
      method: req.method ?? '',
      path: decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname),
      range: req.headers.range,
      keyId: /Credential=([^/]+)\//.exec(auth)?.[1],
      token: req.headers['x-amz-security-token'] as string | undefined,
    };
    seen.push(entry);
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      entry.status = r.statusCode;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(upstream);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, hostPort: `127.0.0.1:${port}`, seen, close: () => close(server) };
}

export interface IssuedKeys {
  roleArn: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface MockSts {
  url: string;
  issued: IssuedKeys[];
  /** The AssumeRole forms received, and the key id that signed each. */
  calls: { form: URLSearchParams; keyId: string | undefined }[];
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });

/**
 * A loopback STS mock (see the top of this file). Role `arn:aws:iam::123456789012:role/<name>` gets keys
 * `ASIA<NAME>n`; `lifetimeMs(roleArn)` sets how long they last (default an hour, as STS's default).
 */
export async function startMockSts(registerKeyPair: (accessKeyId: string, secretAccessKey: string) => Promise<void> | void, lifetimeMs: (roleArn: string) => number = () => 3600_000): Promise<MockSts> {
  const issued: IssuedKeys[] = [];
  const calls: MockSts['calls'] = [];
  const counters = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const form = new URLSearchParams(await readBody(req));
    calls.push({ form, keyId: /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] });
    const roleArn = form.get('RoleArn') ?? '';
    if (form.get('Action') !== 'AssumeRole' || !roleArn) {
      res.writeHead(400, { 'Content-Type': 'text/xml' });
      res.end('<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>mock STS: AssumeRole only</Message></Error></ErrorResponse>');
      return;
    }
    const name = roleArn.split('/').pop()!.toUpperCase().replace(/[^A-Z0-9]/g, '');
    const n = (counters.get(roleArn) ?? 0) + 1;
    counters.set(roleArn, n);
    const keys: IssuedKeys = {
      roleArn,
      accessKeyId: `ASIA${name}${n}`,
      secretAccessKey: `secret-${name}-${n}`,
      sessionToken: `token-${name}-${n}`,
      expiration: new Date(Date.now() + lifetimeMs(roleArn)),
    };
    issued.push(keys);
    await registerKeyPair(keys.accessKeyId, keys.secretAccessKey);
    res.writeHead(200, { 'Content-Type': 'text/xml' });
    res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>${keys.accessKeyId}</AccessKeyId><SecretAccessKey>${keys.secretAccessKey}</SecretAccessKey><SessionToken>${keys.sessionToken}</SessionToken>
<Expiration>${keys.expiration.toISOString()}</Expiration></Credentials><AssumedRoleUser><Arn>${roleArn.replace(':iam:', ':sts:').replace(':role/', ':assumed-role/')}/${form.get('RoleSessionName')}</Arn>
<AssumedRoleId>AROA${name}:${form.get('RoleSessionName')}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${n}</RequestId></ResponseMetadata></AssumeRoleResponse>`);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, issued, calls, close: () => close(server) };
}
