/**
 * DynamoDB table names from OSML's environment variables. OLD and NEW OSML use different names for the job and
 * outstanding-request tables; either is accepted (OLD first, as the behaviour of record).
 */
export interface TableNames {
  job: string;
  region: string;
  feature: string;
  endpoint?: string;
  outstanding?: string;
}

export function tableNamesFromEnv(env: NodeJS.ProcessEnv = process.env): TableNames {
  const problems: string[] = [];
  const job = env.JOB_TABLE || env.IMAGE_REQUEST_TABLE;
  if (!job) problems.push('JOB_TABLE (or IMAGE_REQUEST_TABLE) is not set');
  const region = env.REGION_REQUEST_TABLE;
  if (!region) problems.push('REGION_REQUEST_TABLE is not set');
  const feature = env.FEATURE_TABLE;
  if (!feature) problems.push('FEATURE_TABLE is not set');
  if (problems.length) throw new Error(`table configuration: ${problems.join('; ')}`);
  return {
    job: job!,
    region: region!,
    feature: feature!,
    endpoint: env.ENDPOINT_TABLE || undefined,
    outstanding: env.OUTSTANDING_JOBS_TABLE || env.OUTSTANDING_IMAGE_REQUEST_TABLE || undefined,
  };
}
