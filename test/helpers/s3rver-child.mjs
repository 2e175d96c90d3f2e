// s3rver in a process of its own, for tests whose GDAL reads run in the test process: GDAL holds libuv pool threads
// while it waits for S3, and s3rver needs that same pool for its file reads, so in one process they can starve each
// other. Started by startS3rverProcess (s3-read-role.ts); talks to it over the IPC channel and exits with it.
import S3rver from 's3rver';
import S3rverAccount from 's3rver/lib/models/account.js';

const { directory, keyPairs } = JSON.parse(process.argv[2]);
for (const [id, secret] of keyPairs) S3rverAccount.DUMMY_ACCOUNT.createKeyPair(id, secret);
const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
const { port } = await s3.run();
process.on('message', (m) => {
  if (m.keyPair) {
    S3rverAccount.DUMMY_ACCOUNT.createKeyPair(m.keyPair[0], m.keyPair[1]);
    process.send({ registered: m.id });
  }
});
process.on('disconnect', async () => {
  s3.httpServer?.closeAllConnections();
  await s3.close();
  process.exit(0);
});
process.send({ port });
