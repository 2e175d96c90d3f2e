/**
 * GDAL reads of an S3 image made with the keys of the request's imageReadRole (OSML's ImageRequest.imageReadRole: a
 * role the model runner assumes to read the image), while other jobs in the same process read other images, or the
 * same one, with other keys or with the service's own.
 *
 * Why path-specific options. GDAL takes the keys of a `/vsis3/bucket/key` read when it *opens* the object
 * (VSIS3HandleHelper::BuildFromURI reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN then, and the
 * open handle signs every later request with them). Opens run on the libuv pool while other jobs open and read, so
 * swapping the process-wide config options would hand one job's keys to another. GDAL >= 3.6 keeps options per path
 * prefix (VSISetPathSpecificOption, looked up by the longest prefix of the path being opened); gdal-async does not
 * bind it, so the native module does, on the libgdal gdal-async loaded (native/src/gdal_vsi.rs). Alternatives ruled
 * out: a GDAL config file with [credentials] sections (GDAL_CONFIG_FILE) is read once, when GDAL starts; a presigned
 * `/vsicurl/` URL per job makes GDAL 3.6 learn the size with a GET of the *whole* object (measured: 400 MB for one
 * open); /vsis3/ has no per-job alias for an object path (the bucket and key of the path are what is requested).
 *
 * How. Every GDAL open goes through `openRaster`. For an open of /vsis3/bucket/key as a role, the role's current keys
 * are set as the options of the prefix `/vsis3/bucket/key` for the duration of that open only (the dataset keeps
 * them); opens as another identity whose paths share a prefix with it (the same object, or an object whose key
 * extends the other's, which the prefix would also match) wait until it is done, all other opens run in parallel.
 * GDAL caches sizes and blocks per path, not per key: when an object is opened as another principal than the last
 * time, its cache is dropped first, so that S3 itself authorises the open for the new principal.
 *
 * Refresh. A dataset keeps the keys it was opened with, and a role session lasts an hour. `renewAt` says when to open
 * again (WindowReader reopens its handles then); the role's provider renews its keys before that margin
 * (src/aws/image-read-role.ts), so the new open gets new keys.
 */
import { readFileSync } from 'node:fs';
import gdal from 'gdal-async';
import { bindGdalVsi, type GdalVsi } from '../pixels/native.js';
import { describeAllowedDrivers } from './gdal-drivers.js';

/** Keys as an SDK credentials provider returns them. */
export interface S3ReadKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Whom an image's S3 reads are made as, when not as the service. */
export interface S3ReadCredentials {
  /** The role ARN (logs, and GDAL's per-principal cache). */
  principal: string;
  /** The current keys: a provider that renews them, well before they expire, at least RENEW_MARGIN_MS earlier. */
  keys(): Promise<S3ReadKeys>;
}

export interface OpenedRaster {
  dataset: gdal.Dataset;
  /** When (epoch ms) to open again because the keys the dataset holds are about to expire; Infinity: never. */
  renewAt: number;
}

/** Datasets are reopened this long before their keys expire (a read started before then has this long to finish). */
export const RENEW_MARGIN_MS = 10 * 60_000;

/** GDAL could not open the path (as opposed to the keys or the binding failing). */
export class GdalOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GdalOpenError';
  }
}

/**
 * The /vsis3/bucket/key object a GDAL path reads, at its start or after a driver prefix ('NITF_IM:1:/vsis3/b/k',
 * '/vsisubfile/0_10,/vsis3/b/k'); null when it reads no S3 object.
 */
export function s3ObjectOf(gdalPath: string): string | null {
  return /(?:^|[:,])(\/vsis3\/[^/]+\/.+)$/.exec(gdalPath)?.[1] ?? null;
}

const SERVICE = '';

/**
 * Opens a GDAL path: every dataset Tessera reads an image through is opened here. An S3 object in it is read with
 * `credentials` (the service's own when absent); `drivers`, when given, are the only GDAL drivers that may open it
 * (the service's TESSERA_GDAL_DRIVERS, see gdal-drivers.ts; absent: any, as for `tessera run`). Throws
 * GdalOpenError when GDAL cannot open it; a failure to get the keys is thrown as it is.
 */
export async function openRaster(gdalPath: string, credentials?: S3ReadCredentials, drivers?: readonly string[]): Promise<OpenedRaster> {
  const gdalOpen = (path: string) => openWithDrivers(path, drivers);
  const object = s3ObjectOf(gdalPath);
  if (!object) return { dataset: await gdalOpen(gdalPath), renewAt: Infinity };
  const keys = credentials ? await credentials.keys() : undefined;
  const binding = keys ? gdalVsi() : undefined;
  const open: Open = { object, identity: keys ? `${keys.accessKeyId}\n${keys.sessionToken ?? ''}` : SERVICE };
  await begin(open);
  try {
    const principal = credentials?.principal ?? SERVICE;
    const last = lastPrincipal.get(object);
    if (last !== undefined && last !== principal) gdalVsi().clearCurlCache(object);
    rememberPrincipal(object, principal);
    if (!keys || !binding) return { dataset: await gdalOpen(gdalPath), renewAt: Infinity };
    install(binding, object, open.identity, keys);
    try {
      return { dataset: await gdalOpen(gdalPath), renewAt: renewTime(keys) };
    } finally {
      uninstall(binding, object);
    }
  } finally {
    end(open);
  }
}

async function openWithDrivers(path: string, drivers: readonly string[] | undefined): Promise<gdal.Dataset> {
  try {
    return drivers ? await gdal.openAsync(path, 'r', [...drivers]) : await gdal.openAsync(path);
  } catch (err) {
    const message = String((err as Error)?.message ?? err);
    throw new GdalOpenError(drivers ? `${message}; ${describeAllowedDrivers(drivers)}` : message);
  }
}

function renewTime(keys: S3ReadKeys): number {
  if (!keys.expiration) return Infinity;
  const expires = keys.expiration.getTime();
  // Keys that live less than twice the margin (never from STS's default hour) are renewed half-way instead.
  return expires - Math.min(RENEW_MARGIN_MS, Math.max(0, (expires - Date.now()) / 2));
}

// ------------------------------------------------------------------ opens in flight

interface Open {
  object: string;
  /** The keys (access key id and session token); SERVICE for the service's own credentials. */
  identity: string;
}

const opening = new Set<Open>();
let wakeUps: (() => void)[] = [];

/** Two opens would see each other's options: one path is a prefix of the other, and the keys differ. */
function clash(a: Open, b: Open): boolean {
  return a.identity !== b.identity && (a.object.startsWith(b.object) || b.object.startsWith(a.object));
}

async function begin(open: Open): Promise<void> {
  for (;;) {
    let clashing = false;
    for (const other of opening) if (clash(other, open)) clashing = true;
    if (!clashing) break;
    await new Promise<void>((resolve) => wakeUps.push(resolve));
  }
  opening.add(open);
}

function end(open: Open): void {
  opening.delete(open);
  const wake = wakeUps;
  wakeUps = [];
  for (const resolve of wake) resolve();
}

/** Opens in flight now (tests). */
export function opensInFlight(): number {
  return opening.size;
}

// ------------------------------------------------------------------ path-specific options

/** Options set per object; only opens with the same keys can overlap on an object (begin), so they share them. */
const installed = new Map<string, { identity: string; count: number }>();

function install(binding: GdalVsi, object: string, identity: string, keys: S3ReadKeys): void {
  const current = installed.get(object);
  if (current) {
    if (current.identity !== identity) throw new Error(`internal: ${object} has other keys installed`);
    current.count++;
    return;
  }
  binding.setPathOption(object, 'AWS_ACCESS_KEY_ID', keys.accessKeyId);
  binding.setPathOption(object, 'AWS_SECRET_ACCESS_KEY', keys.secretAccessKey);
  // Set even when empty: otherwise a session token of the service's environment would be sent with the role's keys.
  binding.setPathOption(object, 'AWS_SESSION_TOKEN', keys.sessionToken ?? '');
  binding.setPathOption(object, 'AWS_NO_SIGN_REQUEST', 'NO');
  installed.set(object, { identity, count: 1 });
}

function uninstall(binding: GdalVsi, object: string): void {
  const current = installed.get(object);
  if (!current) return;
  if (--current.count > 0) return;
  installed.delete(object);
  binding.clearPathOptions(object);
}

/** Objects with options set now (tests: none once every open has returned). */
export function objectsWithOptions(): string[] {
  return [...installed.keys()];
}

/** Who last opened each object, to drop GDAL's cache of it when someone else opens it next. */
const lastPrincipal = new Map<string, string>();
const REMEMBERED = 4096;

function rememberPrincipal(object: string, principal: string): void {
  lastPrincipal.delete(object);
  lastPrincipal.set(object, principal);
  if (lastPrincipal.size > REMEMBERED) lastPrincipal.delete(lastPrincipal.keys().next().value!);
}

// ------------------------------------------------------------------ the binding

let binding: GdalVsi | undefined;

/** The native binding on gdal-async's libgdal, checked to be that very instance. */
function gdalVsi(): GdalVsi {
  if (binding) return binding;
  const library = loadedLibgdal();
  const b = bindGdalVsi(library);
  // A config option set through the binding must be seen by gdal-async: otherwise it is another GDAL, and the
  // keys would silently not apply (gdal-async built with a bundled GDAL).
  const probe = `${process.pid}-${Date.now()}-${Math.random()}`;
  b.setConfigOption('TESSERA_GDAL_BINDING_PROBE', probe);
  const seen = gdal.config.get('TESSERA_GDAL_BINDING_PROBE');
  b.setConfigOption('TESSERA_GDAL_BINDING_PROBE', null);
  if (seen !== probe) throw new Error(`${library} is not the GDAL gdal-async uses: imageReadRole cannot be applied (build gdal-async against the system GDAL: npm_config_shared_gdal=true, as scripts/setup.sh does)`);
  return (binding = b);
}

/** The libgdal file mapped into this process (gdal-async links it when built against the system GDAL). */
function loadedLibgdal(): string {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch (err) {
    throw new Error(`cannot list the libraries of this process (${(err as Error).message}): imageReadRole needs Linux`);
  }
  for (const line of maps.split('\n')) {
    const path = line.trim().split(/\s+/).slice(5).join(' ');
    if (/\/libgdal\.so(\.\d+)*$/.test(path)) return path;
  }
  throw new Error('no libgdal.so is loaded in this process: imageReadRole cannot be applied (build gdal-async against the system GDAL: npm_config_shared_gdal=true, as scripts/setup.sh does)');
}
