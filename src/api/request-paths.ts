/**
 * What a request may make the process read or write on its own behalf. An image request is untrusted input: in
 * `tessera serve` its image URL must be `s3://bucket/key` (read after a HEAD with the imageReadRole's keys) or,
 * only where the operator allows a folder, a plain local path inside it; GDAL's virtual file systems (`/vsicurl/`
 * would fetch any URL from inside the VPC, `/vsis3/` would skip the HEAD and read with the service's own keys) and
 * driver-prefixed names (`NITF_IM:0:...`) never reach GDAL. `File` outputs are refused unless the operator allows a
 * folder, and then must stay inside it. `tessera run` acts for the user who runs it, so it keeps accepting any
 * local path GDAL opens and any output path.
 *
 * Checks come twice: on the text before any work (the request is dead-lettered naming the field), and on the
 * real path when it is used, so a symlink inside the folder cannot lead out of it.
 */
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';

/** Where local paths of one kind may point. `setting` names the variable that allows a folder. */
export type LocalScope =
  | { kind: 'anywhere' }
  | { kind: 'inside'; dir: string; setting: string }
  | { kind: 'refused'; setting: string };

export interface RequestPaths {
  /** Local paths in imageUrls. */
  images: LocalScope;
  /** `File` outputs. */
  fileOutputs: LocalScope;
  /**
   * URL prefixes an HTTP_ENDPOINT model may have (TESSERA_HTTP_MODEL_URLS, see modelUrlProblem); absent: any http(s)
   * URL, as OSML.
   */
  httpModelUrls?: readonly string[];
}

export const IMAGE_DIR_SETTING = 'TESSERA_LOCAL_IMAGE_DIR';
export const FILE_OUTPUT_DIR_SETTING = 'TESSERA_FILE_OUTPUT_DIR';
export const HTTP_MODEL_URLS_SETTING = 'TESSERA_HTTP_MODEL_URLS';

/** `tessera run`: the user's own files. */
export const LOCAL_RUN_PATHS: RequestPaths = { images: { kind: 'anywhere' }, fileOutputs: { kind: 'anywhere' } };

/**
 * `tessera serve`: each kind only inside its configured folder (a real path), refused without one; HTTP models
 * only under `httpModelUrls` when given.
 */
export function servicePaths(dirs: { imageDir?: string; fileOutputDir?: string; httpModelUrls?: readonly string[] }): RequestPaths {
  const scope = (dir: string | undefined, setting: string): LocalScope => (dir ? { kind: 'inside', dir, setting } : { kind: 'refused', setting });
  return {
    images: scope(dirs.imageDir, IMAGE_DIR_SETTING),
    fileOutputs: scope(dirs.fileOutputDir, FILE_OUTPUT_DIR_SETTING),
    ...(dirs.httpModelUrls ? { httpModelUrls: dirs.httpModelUrls } : {}),
  };
}

/**
 * TESSERA_HTTP_MODEL_URLS: comma-separated http(s) URL prefixes (no query or fragment), normalised as URLs;
 * `problems` says what is wrong with each bad entry.
 */
export function parseModelUrlPrefixes(text: string): { prefixes: string[]; problems: string[] } {
  const prefixes: string[] = [];
  const problems: string[] = [];
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) problems.push(`${HTTP_MODEL_URLS_SETTING} names no URL prefix (unset it to allow any model URL)`);
  for (const entry of entries) {
    let u: URL;
    try {
      u = new URL(entry);
    } catch {
      problems.push(`${HTTP_MODEL_URLS_SETTING}: ${JSON.stringify(entry)} is not a URL`);
      continue;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`${HTTP_MODEL_URLS_SETTING}: ${JSON.stringify(entry)} is not an http(s) URL`);
    else if (u.search || u.hash || entry.includes('?') || entry.includes('#')) problems.push(`${HTTP_MODEL_URLS_SETTING}: ${JSON.stringify(entry)} has a query or fragment (prefixes are scheme, host, port and a path)`);
    else prefixes.push(u.href);
  }
  return { prefixes, problems };
}

/**
 * Why an HTTP_ENDPOINT model URL may not be called (without the field), or null when it may: with prefixes, the
 * URL, parsed and normalised as the detector will call it, must have a prefix's scheme, host and port exactly
 * (never a textual prefix: `http://models` must not admit `http://models.evil.example`), no user name or password
 * the prefix does not have, and a path that is the prefix's path or below it (`/v1` admits `/v1` and `/v1/x`, not
 * `/v10`; `..` segments are resolved before comparing).
 */
export function modelUrlProblem(url: string, prefixes: readonly string[] | undefined): string | null {
  if (!prefixes) return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL`;
  }
  const allowed = prefixes.some((prefix) => {
    const p = new URL(prefix);
    if (u.protocol !== p.protocol || u.host !== p.host || u.username !== p.username || u.password !== p.password) return false;
    if (p.pathname.endsWith('/')) return u.pathname.startsWith(p.pathname);
    return u.pathname === p.pathname || u.pathname.startsWith(`${p.pathname}/`);
  });
  return allowed ? null : `${JSON.stringify(url)} is not a model endpoint this service may call (its operator lists them in ${HTTP_MODEL_URLS_SETTING})`;
}

/** A path (already absolute and normalised) is the folder itself or below it. */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Why `name` cannot be an S3 bucket's name, or null. AWS's naming rules: 3 to 63 lower-case letters, digits, dots
 * and hyphens, beginning and ending with a letter or digit, no two dots in a row, not an IP address. Legacy names
 * (us-east-1 buckets made before March 2018) may also have capitals and underscores and up to 255 characters, and
 * S3 still serves them: they are accepted too. Nothing else reaches GDAL or the S3 client.
 */
export function s3BucketNameProblem(name: string): string | null {
  const ok = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (ok) return null;
  return `${JSON.stringify(name)} is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit, no ".." and not an IP address; legacy us-east-1 names may also have capitals and underscores, up to 255)`;
}

/** `s3://bucket/key` → `{ bucket, key }`, or null for anything else (no key, a bad bucket name, `.`/`..` in the key). */
export function parseS3Url(url: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m || s3BucketNameProblem(m[1])) return null;
  // GDAL normalises /vsis3/ paths: `a/../b` could name another object than the one the HEAD checked.
  if (m[2].split('/').some((s) => s === '.' || s === '..')) return null;
  return { bucket: m[1], key: m[2] };
}

/** Why an image URL cannot be accepted (the message, without the field), or null when it can. */
export function imageUrlProblem(url: string, scope: LocalScope): string | null {
  if (url.startsWith('s3:')) return parseS3Url(url) ? null : `${JSON.stringify(url)} is not an s3://bucket/key URL (a bucket name and an object key)`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return `${JSON.stringify(url)}: only s3://bucket/key URLs and local paths are supported`;
  if (scope.kind === 'anywhere') return null;
  if (/^\/vsi/i.test(url)) return `${JSON.stringify(url)}: GDAL virtual file system paths (/vsi...) are not accepted; use s3://bucket/key`;
  if (!isAbsolute(url)) {
    if (/^[A-Za-z][\w-]*:/.test(url)) return `${JSON.stringify(url)}: GDAL driver-prefixed names are not accepted (for a NITF image segment use imageSegment)`;
    return `${JSON.stringify(url)}: a local image path must be absolute`;
  }
  if (scope.kind === 'refused') return `${JSON.stringify(url)}: local image paths are not accepted by this service (use s3://bucket/key; its operator can allow a folder with ${scope.setting})`;
  if (!isInside(resolve(url), scope.dir)) return `${JSON.stringify(url)} is outside the folder this service reads local images from (${scope.setting})`;
  return null;
}

/** Why a `File` output path cannot be accepted (without the field), or null when it can. */
export function fileOutputProblem(path: string, scope: LocalScope): string | null {
  if (scope.kind === 'anywhere') return null;
  if (scope.kind === 'refused') return `File outputs are not accepted by this service (its operator can allow a folder with ${scope.setting})`;
  const target = resolve(scope.dir, path);
  if (target === scope.dir || !isInside(target, scope.dir)) return `${JSON.stringify(path)} is not a file inside the folder this service writes File outputs to (${scope.setting})`;
  return null;
}

export class LocalPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalPathError';
  }
}

/**
 * The path GDAL opens for a local image URL: the URL itself for `tessera run`; in the service its real path,
 * checked to be inside the folder (symlinks resolved), so what is opened is what was checked.
 */
export async function resolveLocalImage(url: string, scope: LocalScope): Promise<string> {
  if (scope.kind === 'anywhere') return url;
  const problem = imageUrlProblem(url, scope);
  if (problem) throw new LocalPathError(problem);
  const real = await realpath(url).catch((err: NodeJS.ErrnoException) => {
    throw new LocalPathError(err.code === 'ENOENT' ? `image ${url} does not exist` : `image ${url} cannot be read (${err.code ?? err.message})`);
  });
  if (scope.kind === 'inside' && !isInside(real, scope.dir)) throw new LocalPathError(`${JSON.stringify(url)} leads outside the folder this service reads local images from (${scope.setting}) through a symlink`);
  return real;
}

/**
 * The path a `File` output is written to: as given for `tessera run`; in the service inside the folder, its
 * parent's real path checked (the file itself is written to a new temporary file renamed over the name, so a
 * symlink at the name is replaced, never followed). Checked with the request, before any work (fileOutputLocation,
 * through parseServiceRequest), and again here when the file is written.
 */
export async function resolveFileOutput(path: string, scope: LocalScope): Promise<string> {
  return fileOutputLocation(path, scope);
}

/**
 * resolveFileOutput's check, synchronous (a few system calls): the folder must exist and be a folder, its real path
 * inside the allowed folder, and the name must not be an existing folder (the rename over it would fail).
 * Throws LocalPathError.
 */
export function fileOutputLocation(path: string, scope: LocalScope): string {
  if (scope.kind === 'anywhere') return path;
  const problem = fileOutputProblem(path, scope);
  if (problem || scope.kind !== 'inside') throw new LocalPathError(problem ?? 'File outputs are not accepted');
  const target = resolve(scope.dir, path);
  let parent: string;
  try {
    parent = realpathSync(dirname(target));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new LocalPathError(`File output ${path}: ${dirname(target)} is not a folder`);
    throw new LocalPathError(`File output ${path}: folder ${dirname(target)} ${code === 'ENOENT' ? 'does not exist' : `cannot be used (${code ?? (err as Error).message})`}`);
  }
  if (!isInside(parent, scope.dir)) throw new LocalPathError(`File output ${path} leads outside the folder this service writes File outputs to (${scope.setting}) through a symlink`);
  if (!statSync(parent).isDirectory()) throw new LocalPathError(`File output ${path}: ${dirname(target)} is not a folder`);
  const location = join(parent, basename(target));
  if (lstatSync(location, { throwIfNoEntry: false })?.isDirectory()) throw new LocalPathError(`File output ${path} is an existing folder`);
  return location;
}
