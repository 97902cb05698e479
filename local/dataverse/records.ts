/**
 * The Web API on the stand-in's tables: collections (query options, paging, `$count`, FetchXML),
 * single records (read, update, upsert, delete with `If-Match` / `If-None-Match`), create with
 * `@odata.bind`, and related records created through a collection-valued navigation property.
 */
import { badQuery, DataverseError, CODES } from './errors.ts';
import { runFetchXml } from './fetchxml.ts';
import {
  emptyReply,
  jsonReply,
  preferences,
  serviceRoot,
  type Reply,
  type RequestContext,
  type StandInRequest,
} from './http.ts';
import { parseRecordWrite, type RecordWrite } from './payload.ts';
import { contextFragment, etagOf, evaluate, parseQueryOptions, parseSelect, shapeRecord } from './query.ts';
import type { EntitySetSchema } from './schema.ts';
import type { EntityRecord, RecordStore } from './store.ts';
import { GUID } from '../../shared/config/guid.ts';

/** Dataverse's largest page, and what `$count` counts up to. */
export const MAX_PAGE_SIZE = 5_000;

/** A record named in the URL: by id (`accounts(<guid>)`) or by an alternate key (`accounts(accountnumber='A-1')`). */
export interface KeyPredicate {
  id?: string;
  alternate?: { column: string; value: string };
}

/** Parses the text between the parentheses of `set(…)`, percent-decoded first. */
export function parseKey(encoded: string, schema: EntitySetSchema): KeyPredicate {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    throw badQuery('Bad Request - Error in query syntax.');
  }
  if (GUID.test(text)) return { id: text.toLowerCase() };
  const alternate = /^([A-Za-z_]\w*)='((?:[^']|'')*)'$/.exec(text);
  if (!alternate) throw badQuery('Bad Request - Error in query syntax.');
  const column = alternate[1]!;
  if (!schema.alternateKeys.includes(column)) {
    throw badQuery(`The key '${column}' is not defined as an alternate key of entity '${schema.logicalName}'.`);
  }
  return { alternate: { column, value: alternate[2]!.replace(/''/g, "'") } };
}

export function findByKey(store: RecordStore, schema: EntitySetSchema, key: KeyPredicate): EntityRecord | undefined {
  return key.id
    ? store.get(schema.set, key.id)
    : store.findByKey(schema.set, key.alternate!.column, key.alternate!.value);
}

export function requireRecord(store: RecordStore, schema: EntitySetSchema, key: KeyPredicate): EntityRecord {
  const record = findByKey(store, schema, key);
  if (record) return record;
  const name = key.id ?? `${key.alternate!.column}='${key.alternate!.value}'`;
  throw new DataverseError(404, CODES.notFound, `${schema.logicalName} With Id = ${name} Does Not Exist`);
}

export function entityUrl(context: RequestContext, schema: EntitySetSchema, record: EntityRecord): string {
  return `${serviceRoot(context)}${schema.set}(${record.id})`;
}

/** GET on a collection: query options and server-driven paging, or a FetchXML query. */
export function listRecords(
  store: RecordStore,
  schema: EntitySetSchema,
  request: StandInRequest,
  context: RequestContext,
  scope?: (r: EntityRecord) => boolean,
): Reply {
  const params = request.url.searchParams;
  if (params.has('fetchXml')) {
    if ([...params.keys()].some((k) => k.startsWith('$')))
      throw badQuery('A FetchXML query cannot be combined with OData query options.');
    if (scope) throw badQuery('A FetchXML query is sent to an entity set, not to a navigation property.');
    return jsonReply(200, runFetchXml(params.get('fetchXml')!, schema, store, serviceRoot(context)));
  }
  const options = parseQueryOptions(params, schema, store);
  const candidates = scope ? store.all(schema.set).filter(scope) : store.all(schema.set);
  const matched = evaluate(candidates, schema, options.filter, options.orderBy);
  const limited = options.top === undefined ? matched : matched.slice(0, options.top);
  const prefer = preferences(request);
  const requested = Number(prefer.get('odata.maxpagesize'));
  const pageSize = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : MAX_PAGE_SIZE;
  const skipToken = params.get('$skiptoken') ?? '0';
  if (!/^\d+$/.test(skipToken)) throw badQuery(`The skip token '${skipToken}' is not valid.`);
  const skip = Number(skipToken);
  const page = limited.slice(skip, skip + pageSize);
  const payload: Record<string, unknown> = {
    '@odata.context': `${serviceRoot(context)}$metadata#${contextFragment(schema, options, false)}`,
  };
  if (options.count) {
    payload['@odata.count'] = Math.min(matched.length, MAX_PAGE_SIZE);
    if (matched.length > MAX_PAGE_SIZE) payload['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] = true;
  }
  payload.value = page.map((r) => shapeRecord(r, schema, store, options.select, options.expand));
  if (skip + pageSize < limited.length) {
    // The next page's link is absolute at this environment's own origin and keeps every query option.
    const next = new URL(`${request.url.pathname}${request.url.search}`, context.origin);
    next.searchParams.set('$skiptoken', String(skip + pageSize));
    payload['@odata.nextLink'] = next.href;
  }
  const applied: Record<string, string> = prefer.has('odata.maxpagesize')
    ? { 'preference-applied': `odata.maxpagesize=${pageSize}` }
    : {};
  return jsonReply(200, payload, applied);
}

/** `GET set/$count`: the number of records (up to 5,000) as plain text. */
export function countRecords(store: RecordStore, schema: EntitySetSchema, request: StandInRequest): Reply {
  const options = parseQueryOptions(request.url.searchParams, schema, store);
  const count = Math.min(evaluate(store.all(schema.set), schema, options.filter).length, MAX_PAGE_SIZE);
  return {
    status: 200,
    headers: { 'content-type': 'text/plain', 'odata-version': '4.0' },
    body: Buffer.from(String(count)),
  };
}

export function readRecord(
  store: RecordStore,
  schema: EntitySetSchema,
  key: KeyPredicate,
  request: StandInRequest,
  context: RequestContext,
): Reply {
  const record = requireRecord(store, schema, key);
  const options = parseQueryOptions(request.url.searchParams, schema, store);
  const etag = etagOf(record);
  if (request.headers['if-none-match'] === etag) return emptyReply(304, { etag });
  const body = {
    '@odata.context': `${serviceRoot(context)}$metadata#${contextFragment(schema, options, true)}`,
    ...shapeRecord(record, schema, store, options.select, options.expand),
  };
  return jsonReply(200, body, { etag });
}

/** POST on a collection (optionally under a parent: `accounts(<id>)/contact_customer_accounts`). */
export function createRecord(
  store: RecordStore,
  schema: EntitySetSchema,
  request: StandInRequest,
  context: RequestContext,
  parent?: { column: string; id: string },
): Reply {
  const write = parseRecordWrite(request.body, schema, store, {
    serviceRoot: serviceRoot(context),
    contentIds: context.contentIds,
  });
  if (parent) write.columns[parent.column] = parent.id;
  const id = typeof write.columns[schema.key] === 'string' ? (write.columns[schema.key] as string) : undefined;
  Reflect.deleteProperty(write.columns, schema.key);
  const record = store.create(schema.set, write.columns, context.caller.systemuserid, id);
  associate(store, write, record);
  return createdReply(store, schema, record, request, context);
}

function createdReply(
  store: RecordStore,
  schema: EntitySetSchema,
  record: EntityRecord,
  request: StandInRequest,
  context: RequestContext,
): Reply {
  const location = entityUrl(context, schema, record);
  if (preferences(request).get('return') === 'representation') {
    const select = request.url.searchParams.get('$select');
    const columns = select === null ? undefined : parseSelect(select, schema);
    const body = {
      '@odata.context': `${serviceRoot(context)}$metadata#${contextFragment(schema, { select: columns, expand: [] }, true)}`,
      ...shapeRecord(record, schema, store, columns),
    };
    return jsonReply(201, body, {
      'odata-entityid': location,
      'preference-applied': 'return=representation',
      etag: etagOf(record),
    });
  }
  return emptyReply(204, { 'odata-entityid': location, location });
}

function associate(store: RecordStore, write: RecordWrite, record: EntityRecord): void {
  for (const link of write.associations) {
    store.update(link.set, store.require(link.set, link.id), { [link.column]: record.id });
  }
}

/**
 * PATCH on a record is an upsert: it updates an existing record and creates a missing one, unless
 * `If-Match: *` (update only: 404 when missing) or `If-None-Match: *` (create only: 412 when present).
 */
export function upsertRecord(
  store: RecordStore,
  schema: EntitySetSchema,
  key: KeyPredicate,
  request: StandInRequest,
  context: RequestContext,
): Reply {
  const existing = findByKey(store, schema, key);
  const ifMatch = request.headers['if-match'];
  const ifNoneMatch = request.headers['if-none-match'];
  const write = parseRecordWrite(request.body, schema, store, {
    serviceRoot: serviceRoot(context),
    contentIds: context.contentIds,
  });
  Reflect.deleteProperty(write.columns, schema.key);
  if (!existing) {
    if (ifMatch)
      throw new DataverseError(
        404,
        CODES.notFound,
        `${schema.logicalName} With Id = ${key.id ?? key.alternate!.value} Does Not Exist`,
      );
    if (key.alternate) write.columns[key.alternate.column] = key.alternate.value;
    const record = store.create(schema.set, write.columns, context.caller.systemuserid, key.id);
    associate(store, write, record);
    return createdReply(store, schema, record, request, context);
  }
  if (ifNoneMatch === '*')
    throw new DataverseError(412, CODES.duplicate, 'A record with matching key values already exists.');
  checkIfMatch(existing, ifMatch);
  store.update(schema.set, existing, write.columns);
  associate(store, write, existing);
  const location = entityUrl(context, schema, existing);
  if (preferences(request).get('return') === 'representation') {
    const body = {
      '@odata.context': `${serviceRoot(context)}$metadata#${schema.set}/$entity`,
      ...shapeRecord(existing, schema, store),
    };
    return jsonReply(200, body, {
      'odata-entityid': location,
      'preference-applied': 'return=representation',
      etag: etagOf(existing),
    });
  }
  return emptyReply(204, { 'odata-entityid': location });
}

export function deleteRecord(
  store: RecordStore,
  schema: EntitySetSchema,
  key: KeyPredicate,
  request: StandInRequest,
): Reply {
  const record = requireRecord(store, schema, key);
  checkIfMatch(record, request.headers['if-match']);
  store.delete(schema.set, record.id);
  return emptyReply(204);
}

/** Optimistic concurrency: `If-Match` must be `*` or the record's current ETag. */
function checkIfMatch(record: EntityRecord, ifMatch: string | undefined): void {
  if (ifMatch && ifMatch !== '*' && ifMatch !== etagOf(record)) {
    throw new DataverseError(
      412,
      CODES.concurrency,
      "The version of the existing record doesn't match the RowVersion property provided.",
    );
  }
}
