/**
 * The GDAL drivers `tessera serve` opens request images with (TESSERA_GDAL_DRIVERS). An image a request names is
 * untrusted content: a VRT (and other formats that name other files: MRF, GTI, ESRI .hdr side-cars ...) can name a
 * `/vsicurl/http://...` source, which GDAL fetches when pixels are read, from inside the service's network (server-side
 * request forgery), or a local file the request could not name itself. The URL checks of request-paths.ts cannot see
 * inside the file, so the service opens images only with drivers that read the file's own bytes: NITF (its JPEG 2000
 * segments decoded by a JPEG 2000 driver internally), GeoTIFF (COG), PNG, JPEG and the JPEG 2000 drivers of this GDAL.
 * `tessera run` opens whatever GDAL can (the user's own files). Every open goes through openRaster
 * (s3-read-credentials.ts), which passes the list to GDAL as the allowed drivers.
 */
import gdal from 'gdal-async';

export const GDAL_DRIVERS_SETTING = 'TESSERA_GDAL_DRIVERS';

/** JPEG 2000 drivers GDAL may have (Debian's has JP2OpenJPEG). */
const JPEG2000_DRIVERS = ['JP2OpenJPEG', 'JP2KAK', 'JP2ECW', 'JP2Lura', 'JPEG2000'];

/** The default: NITF, GTiff, COG, PNG, JPEG and the JPEG 2000 drivers this GDAL has. */
export function defaultServiceDrivers(): string[] {
  return ['NITF', 'GTiff', 'COG', 'PNG', 'JPEG', ...JPEG2000_DRIVERS].filter((name) => rasterDriver(name) !== undefined);
}

/** The canonical name of a raster driver of this GDAL (names are case-insensitive), or undefined. */
function rasterDriver(name: string): string | undefined {
  let driver: gdal.Driver | null = null;
  try {
    driver = gdal.drivers.get(name);
  } catch {
    return undefined;
  }
  if (!driver) return undefined;
  const capabilities = (driver.getMetadata() ?? {}) as Record<string, string>;
  return capabilities.DCAP_RASTER === 'YES' ? driver.description : undefined;
}

/** TESSERA_GDAL_DRIVERS: comma-separated GDAL raster driver names of this GDAL; `problems` names each bad one. */
export function parseDriverList(text: string): { drivers: string[]; problems: string[] } {
  const drivers: string[] = [];
  const problems: string[] = [];
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) problems.push(`${GDAL_DRIVERS_SETTING} names no driver (unset it for the default: ${defaultServiceDrivers().join(',')})`);
  for (const name of names) {
    const canonical = rasterDriver(name);
    if (!canonical) problems.push(`${GDAL_DRIVERS_SETTING}: ${JSON.stringify(name)} is not a raster driver of this GDAL (${gdal.version})`);
    else if (!drivers.includes(canonical)) drivers.push(canonical);
  }
  return { drivers, problems };
}

/** What an open refused by the allow-list says (GDAL itself only says it could not open the file). */
export function describeAllowedDrivers(drivers: readonly string[]): string {
  return `this service opens images only with the GDAL drivers ${drivers.join(', ')} (${GDAL_DRIVERS_SETTING})`;
}
