import gdal from 'gdal-async';

/**
 * Process-wide GDAL settings, applied once before the first dataset opens.
 * GDAL_CACHEMAX defaults to 5 % of RAM (1.2 GB on a 24 GB machine), and its block cache fills as the image is
 * read: memory then grows with image size. Tiles are read in row-major order, so a cache of a few tile rows of
 * blocks is enough for the overlap re-reads; TESSERA_GDAL_CACHE_MB overrides it.
 */
let applied = false;

export function applyGdalConfig(env: NodeJS.ProcessEnv = process.env): void {
  if (applied) return;
  applied = true;
  const cacheMb = Number(env.TESSERA_GDAL_CACHE_MB ?? 64);
  if (!env.GDAL_CACHEMAX) gdal.config.set('GDAL_CACHEMAX', String(Number.isFinite(cacheMb) && cacheMb > 0 ? Math.round(cacheMb) : 64));
  // Do not list the image's folder on open (slow on S3 and on big local folders); as OSML configures GDAL.
  if (!env.GDAL_DISABLE_READDIR_ON_OPEN) gdal.config.set('GDAL_DISABLE_READDIR_ON_OPEN', 'EMPTY_DIR');
}
