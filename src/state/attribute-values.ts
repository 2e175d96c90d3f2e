import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * Conversion between plain values and DynamoDB AttributeValues. Written out here (rather than util-dynamodb) so the
 * mapping is explicit: `Set<string>` ⇄ SS (for the idempotent id sets), arrays ⇄ L, objects ⇄ M, undefined skipped.
 */
export type Plain = string | number | boolean | null | Set<string> | Plain[] | { [key: string]: Plain | undefined };

export function toAttribute(value: Plain): AttributeValue {
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot store non-finite number ${value} in DynamoDB`);
    return { N: String(value) };
  }
  if (typeof value === 'boolean') return { BOOL: value };
  if (value instanceof Set) {
    if (value.size === 0) throw new Error('DynamoDB cannot store an empty string set');
    return { SS: [...value] };
  }
  if (Array.isArray(value)) return { L: value.map(toAttribute) };
  return { M: toItem(value) };
}

export function toItem(values: { [key: string]: Plain | undefined }): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) item[k] = toAttribute(v);
  return item;
}

export function fromAttribute(value: AttributeValue): Plain {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL) return null;
  if (value.SS) return new Set(value.SS);
  if (value.NS) return value.NS.map(Number);
  if (value.L) return value.L.map(fromAttribute);
  if (value.M) return fromItem(value.M);
  throw new Error(`unsupported DynamoDB attribute value ${JSON.stringify(Object.keys(value))}`);
}

export function fromItem(item: Record<string, AttributeValue>): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = {};
  for (const [k, v] of Object.entries(item)) out[k] = fromAttribute(v);
  return out;
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}
