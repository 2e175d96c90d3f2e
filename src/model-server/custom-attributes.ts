/**
 * SageMaker CustomAttributes, as the OSML test models read them: the `X-Amzn-SageMaker-Custom-Attributes` header is
 * a comma-separated list of `key=value` pairs; keys and values are trimmed and pairs without `=` are skipped.
 */

export const CUSTOM_ATTRIBUTES_HEADER = 'x-amzn-sagemaker-custom-attributes';

export type CustomAttributes = Readonly<Record<string, string>>;

export function parseCustomAttributes(header: string | string[] | undefined): CustomAttributes {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const attributes: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const separator = pair.indexOf('=');
    if (separator < 0) continue;
    const key = pair.slice(0, separator).trim();
    if (key === '') continue;
    attributes[key] = pair.slice(separator + 1).trim();
  }
  return attributes;
}
