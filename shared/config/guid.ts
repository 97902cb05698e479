/**
 * A GUID in its hyphenated textual form (RFC 9562 §4), any case: Entra tenant and application ids,
 * Dataverse record and user ids.
 */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}
