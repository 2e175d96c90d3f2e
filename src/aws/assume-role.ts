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
 * Assuming a role failed. The message names what the role is for (the request field: `imageReadRole`,
 * `imageProcessor.assumedRole`, an output's role), the role ARN and that the step was STS AssumeRole, then STS's
 * or the network's own message: "connect ECONNREFUSED 127.0.0.1:9" alone does not say which call failed.
 * The cause's `code` is kept (the SDK's retry rules look at it).
 */
export class RoleAssumptionError extends Error {
  readonly code?: string;

  constructor(readonly purpose: string, readonly roleArn: string, cause: unknown) {
    const e = cause as { name?: string; message?: string; code?: unknown } | undefined;
    const detail = e?.message ?? String(cause);
    const name = e?.name && e.name !== 'Error' && !detail.includes(e.name) ? `${e.name}: ` : '';
    super(`${purpose} ${roleArn}: STS AssumeRole failed: ${name}${detail}`, { cause });
    this.name = 'RoleAssumptionError';
    if (typeof e?.code === 'string') this.code = e.code;
  }
}

/** The RoleAssumptionError in an error or its causes (an SDK may wrap a credentials provider's error). */
export function roleAssumptionErrorOf(err: unknown): RoleAssumptionError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RoleAssumptionError) return e;
  }
  return undefined;
}

/**
 * A credentials provider for an IAM role, assumed through STS and assumed again shortly before the credentials
 * expire, so a long region or aggregation never runs on expired keys (OSML fetches them once, §16.22).
 * `purpose` names what the role is for in a failure (RoleAssumptionError): the request field that named it.
 */
export function assumedRoleCredentials(sts: STSClient, roleArn: string, options: { purpose?: string; sessionName?: string; durationSeconds?: number; refreshMarginMs?: number } = {}): () => Promise<RoleCredentials> {
  const margin = options.refreshMarginMs ?? 5 * 60_000;
  let current: RoleCredentials | undefined;
  let inFlight: Promise<RoleCredentials> | undefined;
  return async () => {
    if (current?.expiration && current.expiration.getTime() - margin > Date.now()) return current;
    inFlight ??= (async () => {
      try {
        let Credentials;
        try {
          ({ Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: options.sessionName ?? ROLE_SESSION_NAME, DurationSeconds: options.durationSeconds ?? 3600 })));
        } catch (err) {
          throw new RoleAssumptionError(options.purpose ?? 'role', roleArn, err);
        }
        if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) throw new RoleAssumptionError(options.purpose ?? 'role', roleArn, new Error('STS returned no credentials'));
        current = { accessKeyId: Credentials.AccessKeyId, secretAccessKey: Credentials.SecretAccessKey, sessionToken: Credentials.SessionToken, expiration: Credentials.Expiration };
        return current;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
}
