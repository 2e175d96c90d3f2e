import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentials } from './clients.js';

/** OSML's session name for every role it assumes. */
export const ROLE_SESSION_NAME = 'AWSOversightMLModelRunner';

/**
 * A credentials provider for an IAM role, assumed through STS and assumed again shortly before the credentials
 * expire, so a long region or aggregation never runs on expired keys (OSML fetches them once, §16.22).
 */
export function assumedRoleCredentials(sts: STSClient, roleArn: string, options: { sessionName?: string; durationSeconds?: number; refreshMarginMs?: number } = {}): AwsCredentials {
  const margin = options.refreshMarginMs ?? 5 * 60_000;
  let current: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } | undefined;
  let inFlight: Promise<NonNullable<typeof current>> | undefined;
  return async () => {
    if (current?.expiration && current.expiration.getTime() - margin > Date.now()) return current;
    inFlight ??= (async () => {
      try {
        const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: options.sessionName ?? ROLE_SESSION_NAME, DurationSeconds: options.durationSeconds ?? 3600 }));
        if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) throw new Error(`STS returned no credentials for ${roleArn}`);
        current = { accessKeyId: Credentials.AccessKeyId, secretAccessKey: Credentials.SecretAccessKey, sessionToken: Credentials.SessionToken, expiration: Credentials.Expiration };
        return current;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
}
