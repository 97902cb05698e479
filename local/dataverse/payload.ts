/**
 * Request bodies that write a record: every property must be a writable column of the right type,
 * and `nav@odata.bind` values must name an existing record of the navigation's table by a URL
 * Dataverse accepts — absolute at this environment's own origin, or relative (`/accounts(<id>)`),
 * or a `$<Content-ID>` reference inside a `$batch` changeset.
 */
import { badPayload, DataverseError, CODES } from './errors.ts';
import type { Column, EntitySetSchema } from './schema.ts';
import type { RecordStore } from './store.ts';
import { GUID } from '../../shared/config/guid.ts';

/** A record named by URL: its entity set and id. */
export interface RecordRef {
  set: string;
  id: string;
}

export interface WriteContext {
  /** `<origin>/api/data/v9.2/`: the only absolute base a bind URL may use. */
  serviceRoot: string;
  /** Records created earlier in the same changeset, by Content-ID. */
  contentIds?: Map<string, RecordRef>;
}

/** Column values to write, and records of other tables to point at the new record (collection binds). */
export interface RecordWrite {
  columns: Record<string, unknown>;
  associations: { set: string; id: string; column: string }[];
}

export function parseRecordWrite(
  body: Buffer,
  schema: EntitySetSchema,
  store: RecordStore,
  context: WriteContext,
): RecordWrite {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw badPayload(
      "Error identified in Payload provided by the user for Entity :''. The request body is not valid JSON.",
    );
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw badPayload('The request body must be a JSON object.');
  const write: RecordWrite = { columns: {}, associations: [] };
  for (const [name, value] of Object.entries(payload as Record<string, unknown>)) {
    if (name.startsWith('@odata.')) continue;
    const bind = /^(.+)@odata\.bind$/.exec(name)?.[1];
    if (bind) {
      applyBind(bind, value, schema, store, context, write);
      continue;
    }
    if (name.includes('@')) continue; // instance annotations (e.g. @OData.Community.Display.V1.FormattedValue) are ignored
    const column = schema.columns[name];
    if (!column) {
      throw badPayload(
        `The property '${name}' does not exist on type 'Microsoft.Dynamics.CRM.${schema.logicalName}'. Make sure to only use property names that are defined by the type.`,
      );
    }
    if (column.readOnly)
      throw badPayload(
        `The property '${name}' of 'Microsoft.Dynamics.CRM.${schema.logicalName}' cannot be written by a client.`,
      );
    checkType(name, column, value, schema);
    write.columns[name] = typeof value === 'string' && column.type === 'guid' ? value.toLowerCase() : value;
  }
  return write;
}

function checkType(name: string, column: Column, value: unknown, schema: EntitySetSchema): void {
  if (value === null) return;
  const ok =
    (column.type === 'string' && typeof value === 'string') ||
    (column.type === 'decimal' && typeof value === 'number') ||
    (column.type === 'integer' && Number.isInteger(value)) ||
    (column.type === 'boolean' && typeof value === 'boolean') ||
    (column.type === 'guid' && typeof value === 'string' && GUID.test(value)) ||
    (column.type === 'datetime' && typeof value === 'string' && !Number.isNaN(Date.parse(value)));
  if (!ok) {
    throw badPayload(
      `Cannot convert the literal '${JSON.stringify(value)}' to the expected type of '${name}' (${column.type}) on 'Microsoft.Dynamics.CRM.${schema.logicalName}'.`,
    );
  }
}

function applyBind(
  navigation: string,
  value: unknown,
  schema: EntitySetSchema,
  store: RecordStore,
  context: WriteContext,
  write: RecordWrite,
): void {
  const lookup = schema.lookups[navigation];
  const collection = schema.collections[navigation];
  if (!lookup && !collection) {
    throw badPayload(
      `An undeclared property '${navigation}' which only has property annotations in the payload but no property value was found in the payload.`,
    );
  }
  if (lookup) {
    if (typeof value !== 'string')
      throw badPayload(`The value of '${navigation}@odata.bind' must be the URL of one record.`);
    const ref = resolveRecordUrl(value, store, context);
    if (ref.set !== lookup.target)
      throw badPayload(
        `'${navigation}' points at ${store.schema(lookup.target).logicalName} records, not at '${value}'.`,
      );
    write.columns[lookup.column] = ref.id;
    return;
  }
  if (!Array.isArray(value))
    throw badPayload(`The value of '${navigation}@odata.bind' must be an array of record URLs.`);
  for (const item of value) {
    if (typeof item !== 'string')
      throw badPayload(`The value of '${navigation}@odata.bind' must be an array of record URLs.`);
    const ref = resolveRecordUrl(item, store, context);
    if (ref.set !== collection!.set)
      throw badPayload(`'${navigation}' holds ${store.schema(collection!.set).logicalName} records, not '${item}'.`);
    write.associations.push({ set: ref.set, id: ref.id, column: collection!.column });
  }
}

/**
 * The existing record a URL names. Absolute URLs must be under this environment's service root (OData:
 * a URI not based on the service root is refused); relative ones resolve against it.
 */
export function resolveRecordUrl(value: string, store: RecordStore, context: WriteContext): RecordRef {
  const reference = value.startsWith('$') ? context.contentIds?.get(value.slice(1)) : undefined;
  if (reference) return reference;
  let path: string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) {
    if (!value.startsWith(context.serviceRoot)) {
      throw badPayload(`The URI '${value}' is not valid because it is not based on '${context.serviceRoot}'.`);
    }
    path = value.slice(context.serviceRoot.length);
  } else {
    path = value.replace(/^\/(api\/data\/v9\.2\/)?/, '');
  }
  const match = /^([A-Za-z_]\w*)\(([0-9a-fA-F-]{36})\)$/.exec(path);
  if (!match || !GUID.test(match[2]!))
    throw badPayload(`The URI '${value}' does not name a record (expected <entityset>(<id>)).`);
  const set = match[1]!;
  store.schema(set);
  const record = store.get(set, match[2]!);
  if (!record)
    throw new DataverseError(
      404,
      CODES.notFound,
      `${store.schema(set).logicalName} With Id = ${match[2]!.toLowerCase()} Does Not Exist`,
    );
  return { set, id: record.id };
}
