import { executeBatch, type Dispatch } from './batch.ts';
import { CODES, DataverseError } from './errors.ts';
import type { FileColumns } from './files.ts';
import { API_ROOT, jsonReply, serviceRoot, type Reply, type RequestContext, type StandInRequest } from './http.ts';
import {
  countRecords,
  createRecord,
  deleteRecord,
  listRecords,
  parseKey,
  readRecord,
  requireRecord,
  upsertRecord,
} from './records.ts';
import type { EntitySetSchema } from './schema.ts';
import type { EntityRecord, RecordStore } from './store.ts';

/** What the routes act on: the records, their file columns, and the dispatcher `$batch` parts go back through. */
export interface Routing {
  store: RecordStore;
  files: FileColumns;
  dispatch: Dispatch;
}

const ENTITY_IMAGE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);

/**
 * Maps a Web API path and method to its operation: `$batch`, `WhoAmI`, an entity set (list, create,
 * `$count`), one record (read, upsert, delete) or a part of it. The OData semantics live in the
 * operations (records.ts, files.ts, batch.ts); this only chooses one, or answers 404/405.
 */
export async function route(request: StandInRequest, context: RequestContext, routing: Routing): Promise<Reply> {
  const { method } = request;
  const { store } = routing;
  const path = request.url.pathname;
  if (!path.startsWith(API_ROOT)) throw new DataverseError(404, CODES.query, 'Resource not found for the segment.');
  const [first = '', ...rest] = path.slice(API_ROOT.length).split('/');
  if (first === '$batch' && rest.length === 0) {
    if (method !== 'POST') throw notAllowed(request);
    return executeBatch(request, context, store, routing.dispatch);
  }
  if (/^WhoAmI(\(\))?$/.test(first) && rest.length === 0) {
    if (method !== 'GET') throw notAllowed(request);
    return whoAmI(context);
  }
  const segment = /^([A-Za-z_]\w*)(?:\((.*)\))?$/.exec(first);
  if (!segment) throw new DataverseError(404, CODES.query, `Resource not found for the segment '${first}'.`);
  const schema = store.schema(segment[1]!);
  if (segment[2] === undefined) {
    if (rest.length === 0 && method === 'GET') return listRecords(store, schema, request, context);
    if (rest.length === 0 && method === 'POST') return createRecord(store, schema, request, context);
    if (rest.length === 1 && rest[0] === '$count' && method === 'GET') return countRecords(store, schema, request);
    if (rest.length === 0) throw notAllowed(request);
    throw new DataverseError(404, CODES.query, `Resource not found for the segment '${rest[0]}'.`);
  }
  const key = parseKey(segment[2], schema);
  if (rest.length === 0) {
    if (method === 'GET') return readRecord(store, schema, key, request, context);
    if (method === 'PATCH') return upsertRecord(store, schema, key, request, context);
    if (method === 'DELETE') return deleteRecord(store, schema, key, request);
    throw notAllowed(request);
  }
  return routeRecordPart(requireRecord(store, schema, key), schema, rest, request, context, routing);
}

/** `set(id)/<part>`: a file column, the entity image, a collection-valued navigation property or one column. */
function routeRecordPart(
  record: EntityRecord,
  schema: EntitySetSchema,
  rest: string[],
  request: StandInRequest,
  context: RequestContext,
  { store, files }: Routing,
): Reply {
  const { method } = request;
  const [property = '', value, ...more] = rest;
  const column = schema.columns[property];
  const collection = schema.collections[property];
  if (more.length > 0 || (value !== undefined && value !== '$value')) {
    throw new DataverseError(404, CODES.query, `Resource not found for the segment '${rest.join('/')}'.`);
  }
  if (column?.type === 'file') {
    if (value === '$value' && method === 'GET') return files.download(schema, record, property, request);
    if (value === undefined && method === 'GET') return files.download(schema, record, property, request, context);
    if (value === undefined && method === 'PATCH') return files.upload(schema, record, property, request, context);
    if (value === undefined && method === 'DELETE') return files.remove(schema, record, property);
    throw notAllowed(request);
  }
  if (column?.type === 'image' && value === '$value' && method === 'GET') {
    return { status: 200, headers: { 'content-type': 'image/png' }, body: ENTITY_IMAGE };
  }
  if (collection && value === undefined) {
    const target = store.schema(collection.set);
    if (method === 'POST')
      return createRecord(store, target, request, context, { column: collection.column, id: record.id });
    if (method === 'GET')
      return listRecords(store, target, request, context, (r) => r.data[collection.column] === record.id);
    throw notAllowed(request);
  }
  if (column && value === undefined && method === 'GET') {
    return jsonReply(200, {
      '@odata.context': `${serviceRoot(context)}$metadata#${schema.set}(${record.id})/${property}`,
      value: record.data[property] ?? null,
    });
  }
  throw new DataverseError(404, CODES.query, `Resource not found for the segment '${property}'.`);
}

function notAllowed(request: StandInRequest): DataverseError {
  return new DataverseError(
    405,
    CODES.query,
    `The HTTP method '${request.method}' is not allowed on '${request.url.pathname}'.`,
  );
}

/** WhoAmI: the (possibly impersonated) user, with the environment's business unit and organization. */
function whoAmI(context: RequestContext): Reply {
  return jsonReply(200, {
    '@odata.context': `${serviceRoot(context)}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`,
    BusinessUnitId: '00000000-0000-0000-0000-00000000b001',
    UserId: context.caller.systemuserid,
    OrganizationId: '00000000-0000-0000-0000-00000000a001',
  });
}
