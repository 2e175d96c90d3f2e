/**
 * An image request's imageReadRole (OSML ImageRequest, RegionRequest image_read_role): the role whose keys read the
 * image from S3, both the service's HEAD of the object and every GDAL read (src/raster/s3-read-credentials.ts). No
 * role: the service's own credentials for both.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3ReadCredentials } from '../raster/s3-read-credentials.js';
import { RENEW_MARGIN_MS } from '../raster/s3-read-credentials.js';
import { assumedRoleCredentials } from './assume-role.js';
import { createS3Client, type AwsClients } from './clients.js';

export interface ImageReadAccess {
  /** The keys GDAL reads the image with; undefined: the service's own. */
  credentials: S3ReadCredentials | undefined;
  /** The S3 client that checks the object (HEAD) with the same keys. */
  s3(): S3Client;
}

/**
 * The role's keys are assumed again this long before they expire: longer than RENEW_MARGIN_MS, so a dataset
 * reopened because its keys are about to expire gets new ones.
 */
export const READ_ROLE_REFRESH_MARGIN_MS = RENEW_MARGIN_MS + 5 * 60_000;

/** One provider (one STS session at a time) and one S3 client per role, for each set of service clients. */
const byClients = new WeakMap<AwsClients, Map<string, ImageReadAccess>>();

export function imageReadAccess(clients: AwsClients, role: string | undefined): ImageReadAccess {
  if (!role) return { credentials: undefined, s3: () => clients.s3 };
  let roles = byClients.get(clients);
  if (!roles) byClients.set(clients, (roles = new Map()));
  let access = roles.get(role);
  if (!access) {
    const keys = assumedRoleCredentials(clients.sts, role, { purpose: 'imageReadRole', refreshMarginMs: READ_ROLE_REFRESH_MARGIN_MS });
    let s3: S3Client | undefined;
    access = { credentials: { principal: role, keys }, s3: () => (s3 ??= createS3Client(clients.config, { credentials: keys })) };
    roles.set(role, access);
  }
  return access;
}
