import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';

/** OSML's session name for every role it assumes. */
export const ROLE_SESSION_NAME = 'AWSOversightMLModelRunner';

/** Keys of an assumed role, as STS returned them. */
export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * A credentials provider for an IAM role, assumed through STS and assumed again shortly before the credentials
 * expire, so a long region or aggregation never runs on expired keys (OSML fetches them once, §16.22).
 */
export function assumedRoleCredentials(sts: STSClient, roleArn: string, options: { sessionName?: string; durationSeconds?: number; refreshMarginMs?: number } = {}): () => Promise<RoleCredentials> {
  const margin = options.refreshMarginMs ?? 5 * 60_000;
  let current: RoleCredentials | undefined;
  let inFlight: Promise<RoleCredentials> | undefined;
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
