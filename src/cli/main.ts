/**
 * The `tessera` command line. bin/tessera.js sets the AWS/EMF environment before this module (and any AWS or EMF
 * module) loads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { packageRoot } from '../util/package-root.js';
import { runCommand, UsageError, EXIT_INPUT_ERROR, type RunCliOptions } from './run-command.js';
import { startModelServer } from '../model-server/index.js';
import { serveCommand, type ServeCliOptions } from './serve-command.js';
import { devStackCommand, type DevStackCliOptions } from './dev-stack-command.js';

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('tessera')
    .description('Run ML detectors over very large satellite and aerial images (NITF, GeoTIFF, SICD).')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();

  let exitCode = 0;
  program
    .command('run')
    .description('process one image with a model and write geolocated, de-duplicated GeoJSON (OSML schema)')
    .argument('[IMAGE]', 'image file (NITF, GeoTIFF, ... anything GDAL reads)')
    .option('--request <FILE>', 'an OSML ImageRequest JSON (camelCase); flags given as well override it')
    .option('--model <URL|builtin:NAME>', 'model endpoint URL, or builtin:centerpoint|flood|failure (a loopback test model)')
    .option('--tile-size <N>', 'tile size in pixels (default 512, at most 8192; a request file defaults to 1024)')
    .option('--overlap <N>', 'minimum tile overlap in pixels (default 128; a request file defaults to 50)')
    .option('--region-size <N>', 'nominal region size in pixels (default 10240)')
    .option('--tiling <STRATEGY>', 'variable-overlap (OSML default) | full-coverage (every pixel) | variable-tile')
    .option('--tile-format <FORMAT>', 'NITF (default, as OSML) | PNG | JPEG | GTIFF')
    .option('--compression <C>', 'tile compression: NONE (default) | JPEG | J2K | LZW | DEFLATE')
    .option('--quality <Q>', 'JPEG quality 1..100 (default 90)')
    .option('--max-payload-mb <MB>', "largest encoded tile the model accepts (default 6, SageMaker's limit; 0 = none)")
    .option('--bands <LIST>', 'bands to send, 1-based, in order (e.g. 3,2,1)')
    .option('--range-adjustment <MODE>', 'NONE | MINMAX | DRA (default: DRA when the tile format cannot carry the source type)')
    .option('--image-segment <N>', 'NITF image segment, 0-based (default 0)')
    .option('--custom-attributes <STR>', 'X-Amzn-SageMaker-Custom-Attributes header (e.g. model_selection=centerpoint)')
    .option('--roi <WKT>', 'region of interest: WKT polygon in lon/lat')
    .option('--dedup <SPEC>', 'nms[:IOU] (default nms:0.75) | soft-nms[:SIGMA[:SKIP]] | none')
    .option('--workers <N>', 'worker threads (default: number of cores; at most 4 per core, 64 in all)')
    .option('--timeout <S>', 'model call timeout per attempt, seconds (default 60, at most 86400)')
    .option('--retries <N>', 'retries per tile on connection errors, 408, 429, 5xx (default 5, at most 9)')
    .option('--job-id <ID>', 'job id recorded in inferenceMetadata (default: random)')
    .option('--out <FILE>', 'output GeoJSON (default <image name>.geojson in the current folder; - for stdout)')
    .option('--no-progress', 'no progress bar')
    .action(async (image: string | undefined, options: RunCliOptions) => {
      exitCode = await runCommand(image, options);
    });

  program
    .command('model-server')
    .description("serve OSML's test models (centerpoint, flood, failure) on 127.0.0.1")
    .addOption(new Option('--port <N>', 'port (0 = any free port)').default('8080'))
    .action(async (options: { port: string }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${JSON.stringify(options.port)}`);
      const server = await startModelServer({ port });
      process.stdout.write(`tessera model-server listening on ${server.url} (POST /invocations, GET /ping)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  program
    .command('serve')
    .description('the queue-driven service: image and region requests from SQS, state in DynamoDB, status on SNS (configured by environment, OSML names)')
    .option('--health-port <N>', 'port of GET /health on 127.0.0.1 (default TESSERA_HEALTH_PORT or 8090; 0 = any free port)')
    .action(async (options: ServeCliOptions) => {
      exitCode = await serveCommand(options);
    });

  program
    .command('dev-stack')
    .description('start local stand-ins for SQS, DynamoDB, S3, Kinesis and SNS on 127.0.0.1 and print the environment for tessera serve')
    .option('--data-dir <DIR>', 'keep DynamoDB, Kinesis and S3 data here across restarts')
    .option('--visibility-timeout <S>', 'default visibility timeout of the work queues, seconds (default 30)')
    .option('--max-receive-count <N>', 'receives before SQS moves a message to its dead-letter queue (default 5)')
    .action(async (options: DevStackCliOptions) => {
      exitCode = await devStackCommand(options);
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT_INPUT_ERROR;
    process.stderr.write(`tessera: error: ${e.message}\n`);
    return EXIT_INPUT_ERROR;
  }
}
