/**
 * FetchXML queries (`GET <set>?fetchXml=<url-encoded fetch>`): attributes, filters (and/or, nested)
 * with the common condition operators, ordering, `top`, and `count` + `page` paging with Dataverse's
 * paging cookie and `morerecords` annotations. Like Dataverse, results omit null values.
 * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/overview
 */
import { badArgument, DataverseError, notImplemented } from './errors.ts';
import { compareValues, etagOf, evaluate, type OrderBy, type Predicate } from './query.ts';
import { defaultColumns, type EntitySetSchema } from './schema.ts';
import type { EntityRecord, RecordStore } from './store.ts';
import { parseXml, XmlSyntaxError, type XmlElement } from './xml.ts';

const MAX_COUNT = 5_000;
const FETCH_ATTRIBUTES = new Set([
  'version',
  'mapping',
  'top',
  'count',
  'page',
  'paging-cookie',
  'distinct',
  'no-lock',
  'output-format',
  'returntotalrecordcount',
  'aggregate',
  'latematerialize',
  'useraworderby',
  'options',
  'datasource',
]);
const CONDITIONS: Record<string, (value: unknown, operands: unknown[], type: string) => boolean> = {
  eq: (v, [o], t) => v !== null && compareValues(v, o, t as never) === 0,
  ne: (v, [o], t) => v !== null && compareValues(v, o, t as never) !== 0,
  gt: (v, [o], t) => v !== null && compareValues(v, o, t as never) > 0,
  ge: (v, [o], t) => v !== null && compareValues(v, o, t as never) >= 0,
  lt: (v, [o], t) => v !== null && compareValues(v, o, t as never) < 0,
  le: (v, [o], t) => v !== null && compareValues(v, o, t as never) <= 0,
  like: (v, [o]) => typeof v === 'string' && likePattern(String(o)).test(v),
  'not-like': (v, [o]) => typeof v === 'string' && !likePattern(String(o)).test(v),
  null: (v) => v === null,
  'not-null': (v) => v !== null,
  in: (v, os, t) => v !== null && os.some((o) => compareValues(v, o, t as never) === 0),
  'not-in': (v, os, t) => v !== null && !os.some((o) => compareValues(v, o, t as never) === 0),
};
const NO_VALUE = new Set(['null', 'not-null']);
const MANY_VALUES = new Set(['in', 'not-in']);

interface FetchQuery {
  columns?: string[];
  filter?: Predicate;
  orderBy: OrderBy[];
  top?: number;
  count?: number;
  page: number;
  totalCount: boolean;
}

/** Runs a FetchXML query on `schema`'s table and returns the Web API's JSON answer. */
export function runFetchXml(
  text: string,
  schema: EntitySetSchema,
  store: RecordStore,
  serviceRoot: string,
): Record<string, unknown> {
  const query = parseFetch(text, schema);
  const matched = evaluate(store.all(schema.set), schema, query.filter, query.orderBy);
  let rows = query.top === undefined ? matched : matched.slice(0, query.top);
  let moreRecords = false;
  if (query.count !== undefined) {
    const start = (query.page - 1) * query.count;
    rows = matched.slice(start, start + query.count);
    moreRecords = start + query.count < matched.length;
  }
  const columns = query.columns ?? defaultColumns(schema);
  const answer: Record<string, unknown> = {
    '@odata.context': `${serviceRoot}$metadata#${schema.set}(${columns.join(',')})`,
  };
  if (query.totalCount) answer['@Microsoft.Dynamics.CRM.totalrecordcount'] = Math.min(matched.length, MAX_COUNT);
  if (query.count !== undefined) {
    answer['@Microsoft.Dynamics.CRM.morerecords'] = moreRecords;
    if (moreRecords) answer['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie'] = pagingCookie(schema, rows, query.page);
  }
  answer.value = rows.map((r) => shapeFetchRow(r, schema, columns));
  return answer;
}

function shapeFetchRow(record: EntityRecord, schema: EntitySetSchema, columns: string[]): Record<string, unknown> {
  const row: Record<string, unknown> = { '@odata.etag': etagOf(record) };
  // FetchXML results never carry null values, and always carry the primary key.
  for (const column of new Set([...columns, schema.key])) {
    const value = record.data[column];
    if (value !== null && value !== undefined) row[column] = value;
  }
  return row;
}

/**
 * Dataverse's annotation: `<cookie pagenumber="N+1" pagingcookie="<twice url-encoded cookie>" istracking="False" />`;
 * a client sends the decoded inner cookie back in `paging-cookie` with `page="N+1"`.
 */
function pagingCookie(schema: EntitySetSchema, rows: EntityRecord[], page: number): string {
  const first = rows[0]?.id ?? '';
  const last = rows.at(-1)?.id ?? '';
  const inner = `<cookie page="${page}"><${schema.key} last="{${last.toUpperCase()}}" first="{${first.toUpperCase()}}" /></cookie>`;
  // Dataverse writes the escapes in lower case (`%253ccookie%2520page…`).
  const encoded = encodeURIComponent(encodeURIComponent(inner).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
  return `<cookie pagenumber="${page + 1}" pagingcookie="${encoded}" istracking="False" />`;
}

function parseFetch(text: string, schema: EntitySetSchema): FetchQuery {
  let fetch: XmlElement;
  try {
    fetch = parseXml(text);
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw badArgument(`Invalid XML in the fetchXml parameter: ${err.message}.`);
    throw err;
  }
  if (fetch.name !== 'fetch')
    throw badArgument(`The root element of a FetchXML query must be 'fetch', not '${fetch.name}'.`);
  for (const name of Object.keys(fetch.attributes)) {
    if (!FETCH_ATTRIBUTES.has(name)) throw badArgument(`The 'fetch' element does not allow the attribute '${name}'.`);
  }
  if (fetch.attributes.aggregate === 'true') throw notImplemented('FetchXML aggregation');
  const entities = fetch.children.filter((c) => c.name === 'entity');
  if (entities.length !== 1 || fetch.children.length !== 1)
    throw badArgument("A FetchXML query must contain exactly one 'entity' element.");
  const entity = entities[0]!;
  if (entity.attributes.name !== schema.logicalName) {
    throw badArgument(
      `The entity name '${entity.attributes.name ?? ''}' in the FetchXML does not match the entity set '${schema.set}' (${schema.logicalName}).`,
    );
  }
  const top = positive(fetch.attributes.top, 'top', MAX_COUNT);
  const count = positive(fetch.attributes.count, 'count', MAX_COUNT);
  const page = positive(fetch.attributes.page, 'page') ?? 1;
  if (top !== undefined && (count !== undefined || fetch.attributes.page !== undefined)) {
    throw badArgument("The 'top' attribute can't be specified with the paging attributes 'page' and 'count'.");
  }
  const query: FetchQuery = {
    orderBy: [],
    top,
    count,
    page,
    totalCount: fetch.attributes.returntotalrecordcount === 'true',
  };
  const filters: Predicate[] = [];
  for (const child of entity.children) {
    switch (child.name) {
      case 'attribute':
        if (child.attributes.alias || child.attributes.aggregate)
          throw notImplemented('attribute aliases and aggregates in FetchXML');
        (query.columns ??= []).push(column(child.attributes.name, schema));
        break;
      case 'all-attributes':
        query.columns = undefined;
        break;
      case 'order':
        if (child.attributes.alias) throw notImplemented('ordering by an alias');
        query.orderBy.push({
          column: column(child.attributes.attribute, schema),
          descending: child.attributes.descending === 'true',
        });
        break;
      case 'filter':
        filters.push(parseFilter(child, schema));
        break;
      case 'link-entity':
        throw notImplemented('link-entity in FetchXML');
      default:
        throw badArgument(`The element '${child.name}' is not valid inside 'entity'.`);
    }
  }
  if (filters.length > 0) query.filter = (r) => filters.every((f) => f(r));
  return query;
}

function positive(text: string | undefined, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw badArgument(
      `The '${name}' attribute must be a whole number from 1${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, not '${text}'.`,
    );
  }
  return Number(text);
}

/** A FetchXML attribute name as a Web API column: lookups are `_<name>_value`. */
function column(name: string | undefined, schema: EntitySetSchema): string {
  if (!name) throw badArgument('An attribute, order or condition element names no attribute.');
  if (schema.columns[name]) return name;
  const lookup = `_${name}_value`;
  if (schema.columns[lookup]) return lookup;
  throw new DataverseError(
    400,
    '0x80041103',
    `'${schema.logicalName}' entity doesn't contain attribute with Name = '${name}'.`,
  );
}

function parseFilter(filter: XmlElement, schema: EntitySetSchema): Predicate {
  const type = filter.attributes.type ?? 'and';
  if (type !== 'and' && type !== 'or') throw badArgument(`The filter type '${type}' is not valid (use 'and' or 'or').`);
  const parts = filter.children.map((child) => {
    if (child.name === 'filter') return parseFilter(child, schema);
    if (child.name === 'condition') return parseCondition(child, schema);
    throw badArgument(`The element '${child.name}' is not valid inside 'filter'.`);
  });
  return type === 'and' ? (r) => parts.every((p) => p(r)) : (r) => parts.some((p) => p(r));
}

function parseCondition(condition: XmlElement, schema: EntitySetSchema): Predicate {
  const name = column(condition.attributes.attribute, schema);
  const operator = condition.attributes.operator ?? '';
  const test = CONDITIONS[operator];
  if (!test) throw notImplemented(`the FetchXML condition operator '${operator}'`);
  const type = schema.columns[name]!.type;
  let texts: string[];
  if (NO_VALUE.has(operator)) texts = [];
  else if (MANY_VALUES.has(operator)) texts = condition.children.filter((c) => c.name === 'value').map((c) => c.text);
  else texts = condition.attributes.value === undefined ? [] : [condition.attributes.value];
  if (!NO_VALUE.has(operator) && texts.length === 0)
    throw badArgument(`The condition '${operator}' on '${name}' needs a value.`);
  const operands = texts.map((t) => typedValue(t, type, name));
  return (r) => test(r.data[name] ?? null, operands, type);
}

function typedValue(text: string, type: string, name: string): unknown {
  if (type === 'decimal' || type === 'integer') {
    const value = Number(text);
    if (text.trim() === '' || Number.isNaN(value))
      throw badArgument(`The value '${text}' is not a number for '${name}'.`);
    return value;
  }
  if (type === 'boolean') return text === '1' || text.toLowerCase() === 'true';
  if (type === 'guid' || type === 'lookup') return text.replace(/^\{|\}$/g, '').toLowerCase();
  return text;
}

/** SQL LIKE: `%` any run, `_` one character, case-insensitive. */
function likePattern(pattern: string): RegExp {
  const body = Array.from(pattern)
    .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'is');
}
