#!/usr/bin/env node
// Set before any AWS SDK or aws-embedded-metrics module loads: never probe the instance-metadata address locally.
process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
process.env.AWS_EMF_ENVIRONMENT ??= 'Local';
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv);
