import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { toAttribute, type Plain } from './attribute-values.js';

/**
 * Builds DynamoDB expressions with placeholder names and values (#n0, :v0, ...), so attribute names that are
 * reserved words (status, count, ...) and any value need no escaping by the caller.
 */
export class ExpressionBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private n = 0;
  private v = 0;
  private readonly nameOf = new Map<string, string>();

  name(attribute: string): string {
    let key = this.nameOf.get(attribute);
    if (!key) {
      key = `#n${this.n++}`;
      this.nameOf.set(attribute, key);
      this.names[key] = attribute;
    }
    return key;
  }

  value(value: Plain | AttributeValue, raw = false): string {
    const key = `:v${this.v++}`;
    this.values[key] = raw ? (value as AttributeValue) : toAttribute(value as Plain);
    return key;
  }

  /** `SET a = :v, ...` clauses for every defined field. */
  sets(fields: { [key: string]: Plain | undefined }): string[] {
    return Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${this.name(k)} = ${this.value(v as Plain)}`);
  }

  /** Parameters to spread into an UpdateItem/PutItem/Query input (omits empty maps, which DynamoDB rejects). */
  params(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, AttributeValue> } {
    return {
      ...(this.n ? { ExpressionAttributeNames: this.names } : {}),
      ...(this.v ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}
