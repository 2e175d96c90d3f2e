/** Time-to-live of state items: every item carries `expire_time` (epoch seconds), as OSML's TTL attribute. */
export const TTL_ATTRIBUTE = 'expire_time';

export const DEFAULT_TTL_DAYS = 1;

/** `DDB_TTL_IN_DAYS` (NEW OSML; default 1 day). A bad value is an error rather than a silent default. */
export function ttlDaysFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DDB_TTL_IN_DAYS;
  if (raw === undefined || raw === '') return DEFAULT_TTL_DAYS;
  const days = Number(raw);
  if (!Number.isFinite(days) || days <= 0) throw new Error(`DDB_TTL_IN_DAYS must be a positive number of days, got ${JSON.stringify(raw)}`);
  return days;
}

export function expireTime(nowMs: number, ttlDays: number): number {
  return Math.floor(nowMs / 1000 + ttlDays * 86_400);
}
