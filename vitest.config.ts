import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A temporary folder of the run's own (TMPDIR), removed when the run ends.
    globalSetup: ['test/global-setup.ts'],
    // gdal-async only works on a process's main thread: run test files in child processes, not worker threads.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Never let the AWS SDK or aws-embedded-metrics probe the instance-metadata address.
    env: { AWS_EC2_METADATA_DISABLED: 'true', AWS_EMF_ENVIRONMENT: 'Local', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
  },
});
