/** Marshalling between the stores' records and DynamoDB attribute values. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** A DynamoDB item (or a map attribute's entries). */
export type Item = Record<string, AttributeValue>;

export const s = (value: string): AttributeValue => ({ S: value });
export const n = (value: number): AttributeValue => ({ N: String(value) });
export const b = (value: Uint8Array): AttributeValue => ({ B: value });

/** A required attribute; a stored item without it is corrupt, not absent. */
export function str(item: Item, name: string): string {
  const v = item[name]?.S;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return v;
}
export function num(item: Item, name: string): number {
  const v = item[name]?.N;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return Number(v);
}
export function bin(item: Item, name: string): Uint8Array {
  const v = item[name]?.B;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return v;
}
/** An optional attribute: undefined when the item does not carry it. */
export const optStr = (item: Item, name: string) => item[name]?.S;
export const optNum = (item: Item, name: string): number | undefined => {
  const v = item[name]?.N;
  return v === undefined ? undefined : Number(v);
};
