#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=50
// The V8 flags above keep memory flat over long runs (src/util/memory-flags.ts); `node bin/tessera.js` without
// them gets what can still be set at run time.
// Set before any AWS SDK or aws-embedded-metrics module loads: never probe the instance-metadata address locally.
process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
process.env.AWS_EMF_ENVIRONMENT ??= 'Local';
// The AWS SDK clients are pinned to releases that support Node 20 (package.json); their notice about later
// releases needing Node 22 is not actionable for a user of this build.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { applyMemoryFlags } = await import('../dist/src/util/memory-flags.js');
applyMemoryFlags();
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv);
