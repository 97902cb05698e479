/**
 * OData system query options on the stand-in's tables: `$filter`, `$orderby`, `$select`, `$top`,
 * `$count` and one level of `$expand`. Expressions are parsed by `@odata/parser` (an OData v4 ABNF
 * parser); this module checks them against the schema, as Dataverse does, and evaluates them.
 */
import { defaultParser } from '@odata/parser';
import { badQuery, notImplemented } from './errors.ts';
import { defaultColumns, type ColumnType, type EntitySetSchema } from './schema.ts';
import type { EntityRecord, RecordStore } from './store.ts';

interface Node {
  type: string;
  raw: string;
  // The parser's node payload: a child node, an operand pair, a method call or a literal's EDM type.
  value: unknown;
}

export type Predicate = (record: EntityRecord) => boolean;
export interface OrderBy {
  column: string;
  descending: boolean;
}
export interface Expansion {
  navigation: string;
  /** Set of the expanded records and how they relate: a lookup on this record, or records naming it. */
  target: string;
  lookupColumn?: string;
  backReference?: string;
  select?: string[];
  filter?: Predicate;
  orderBy?: OrderBy[];
  top?: number;
}

/** What a collection or record request asks for. */
export interface QueryOptions {
  select?: string[];
  filter?: Predicate;
  orderBy: OrderBy[];
  top?: number;
  count: boolean;
  expand: Expansion[];
}

const SUPPORTED = new Set(['$select', '$filter', '$orderby', '$top', '$count', '$expand', '$skiptoken']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses and checks the query options of a request against `schema` (400 in Dataverse's words). */
export function parseQueryOptions(params: URLSearchParams, schema: EntitySetSchema, store: RecordStore): QueryOptions {
  for (const name of params.keys()) {
    if (name.startsWith('$') && !SUPPORTED.has(name)) {
      throw badQuery(`The query parameter ${name} is not supported`);
    }
  }
  const top = params.get('$top');
  const count = params.get('$count');
  if (count !== null && count !== 'true' && count !== 'false')
    throw badQuery(`Invalid value '${count}' for $count query option.`);
  const filter = params.get('$filter');
  const select = params.get('$select');
  const orderBy = params.get('$orderby');
  const expand = params.get('$expand');
  return {
    select: select === null ? undefined : parseSelect(select, schema),
    filter: filter === null ? undefined : parseFilter(filter, schema),
    orderBy: orderBy === null ? [] : parseOrderBy(orderBy, schema),
    top: top === null ? undefined : parseTop(top),
    count: count === 'true',
    expand: expand === null ? [] : parseExpand(expand, schema, store),
  };
}

function parseTop(text: string): number {
  if (!/^\d+$/.test(text))
    throw badQuery(
      `Invalid value '${text}' for $top query option found. The $top query option requires a non-negative integer value.`,
    );
  return Number(text);
}

function requireColumn(schema: EntitySetSchema, name: string): ColumnType {
  const column = schema.columns[name];
  if (!column)
    throw badQuery(`Could not find a property named '${name}' on type 'Microsoft.Dynamics.CRM.${schema.logicalName}'.`);
  return column.type;
}

export function parseSelect(text: string, schema: EntitySetSchema): string[] {
  const names = text.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!IDENTIFIER.test(name)) throw badQuery(`Syntax error at position 0 in '${text}'.`);
    if (schema.lookups[name] || schema.collections[name]) {
      throw badQuery(
        `Could not find a property named '${name}' on type 'Microsoft.Dynamics.CRM.${schema.logicalName}'. Use _${name}_value or $expand.`,
      );
    }
    requireColumn(schema, name);
  }
  return names;
}

function parseWith<T>(parse: () => T, text: string): T {
  try {
    return parse();
  } catch {
    throw badQuery(`Syntax error: character is not valid at this position in '${text}'.`);
  }
}

export function parseOrderBy(text: string, schema: EntitySetSchema): OrderBy[] {
  const options = parseWith(() => defaultParser.query(`$orderby=${text}`) as unknown as Node, text);
  const orderBy = (options.value as { options: Node[] }).options[0]!.value as { items: Node[] };
  return orderBy.items.map((item) => {
    const { expr, direction } = item.value as { expr: Node; direction: number };
    const column = propertyName(expr);
    requireColumn(schema, column);
    return { column, descending: direction === -1 };
  });
}

// --- $filter ---------------------------------------------------------------------------------

type Operand =
  { kind: 'property'; column: string; type: ColumnType } | { kind: 'literal'; edm: string; value: unknown };

const EDM_OF: Record<ColumnType, string> = {
  string: 'Edm.String',
  decimal: 'Edm.Decimal',
  integer: 'Edm.Int32',
  boolean: 'Edm.Boolean',
  guid: 'Edm.Guid',
  lookup: 'Edm.Guid',
  datetime: 'Edm.DateTimeOffset',
  file: 'Edm.Guid',
  image: 'Edm.Binary',
};
const NUMERIC = new Set([
  'Edm.Byte',
  'Edm.SByte',
  'Edm.Int16',
  'Edm.Int32',
  'Edm.Int64',
  'Edm.Decimal',
  'Edm.Double',
  'Edm.Single',
]);
const COMPARISONS: Record<string, { kind: string; test: (order: number) => boolean }> = {
  EqualsExpression: { kind: 'Equal', test: (o) => o === 0 },
  NotEqualsExpression: { kind: 'NotEqual', test: (o) => o !== 0 },
  LesserThanExpression: { kind: 'LessThan', test: (o) => o < 0 },
  LesserOrEqualsExpression: { kind: 'LessThanOrEqual', test: (o) => o <= 0 },
  GreaterThanExpression: { kind: 'GreaterThan', test: (o) => o > 0 },
  GreaterOrEqualsExpression: { kind: 'GreaterThanOrEqual', test: (o) => o >= 0 },
};
const STRING_FUNCTIONS: Record<string, (value: string, search: string) => boolean> = {
  contains: (v, s) => v.includes(s),
  startswith: (v, s) => v.startsWith(s),
  endswith: (v, s) => v.endsWith(s),
};

/** Parses a `$filter` expression into a predicate, checking every property and operand type. */
export function parseFilter(text: string, schema: EntitySetSchema): Predicate {
  const ast = parseWith(() => defaultParser.filter(text) as unknown as Node, text);
  return compile(ast, schema);
}

function compile(node: Node, schema: EntitySetSchema): Predicate {
  switch (node.type) {
    case 'AndExpression':
    case 'OrExpression': {
      const { left, right } = node.value as { left: Node; right: Node };
      const l = compile(left, schema);
      const r = compile(right, schema);
      return node.type === 'AndExpression' ? (rec) => l(rec) && r(rec) : (rec) => l(rec) || r(rec);
    }
    case 'NotExpression': {
      const inner = compile(node.value as Node, schema);
      return (rec) => !inner(rec);
    }
    case 'BoolParenExpression':
    case 'ParenExpression':
    case 'CommonExpression':
      return compile(node.value as Node, schema);
    case 'MethodCallExpression':
      return compileMethod(node, schema);
    default: {
      const comparison = COMPARISONS[node.type];
      if (!comparison) throw notImplemented(`the filter expression '${node.raw}'`);
      const { left, right } = node.value as { left: Node; right: Node };
      return compileComparison(operand(left, schema), operand(right, schema), comparison);
    }
  }
}

function compileMethod(node: Node, schema: EntitySetSchema): Predicate {
  const { method, parameters } = node.value as { method: string; parameters: Node[] };
  const test = STRING_FUNCTIONS[method];
  if (!test) throw notImplemented(`the '${method}' function in $filter`);
  const [target, search] = parameters.map((p) => operand(p, schema));
  if (
    parameters.length !== 2 ||
    target?.kind !== 'property' ||
    search?.kind !== 'literal' ||
    target.type !== 'string' ||
    search.edm !== 'Edm.String'
  ) {
    throw badQuery(`The '${method}' function takes a string property and a string literal.`);
  }
  const needle = String(search.value).toLowerCase();
  return (rec) => {
    const value = rec.data[target.column];
    return typeof value === 'string' && test(value.toLowerCase(), needle);
  };
}

function compileComparison(
  left: Operand,
  right: Operand,
  comparison: { kind: string; test: (o: number) => boolean },
): Predicate {
  const edm = (o: Operand) => (o.kind === 'property' ? EDM_OF[o.type] : o.edm);
  const compatible = (a: string, b: string) =>
    a === b ||
    a === 'null' ||
    b === 'null' ||
    (NUMERIC.has(a) && NUMERIC.has(b)) ||
    (a === 'Edm.DateTimeOffset' && b === 'Edm.Date') ||
    (a === 'Edm.Date' && b === 'Edm.DateTimeOffset');
  if (!compatible(edm(left), edm(right))) {
    throw badQuery(
      `A binary operator with incompatible types was detected. Found operand types '${edm(left)}' and '${edm(right)}' for operator kind '${comparison.kind}'.`,
    );
  }
  const ordered = comparison.kind !== 'Equal' && comparison.kind !== 'NotEqual';
  if (ordered && (edm(left) === 'null' || edm(right) === 'null'))
    throw badQuery(`The operator '${comparison.kind}' cannot compare with null.`);
  const valueOf = (o: Operand, rec: EntityRecord) => (o.kind === 'property' ? (rec.data[o.column] ?? null) : o.value);
  const type = left.kind === 'property' ? left.type : right.kind === 'property' ? right.type : undefined;
  return (rec) => {
    const a = valueOf(left, rec);
    const b = valueOf(right, rec);
    if (a === null || b === null) {
      // SQL semantics: only eq/ne null match; any other comparison with a null column is false.
      if (comparison.kind === 'Equal') return a === b;
      if (comparison.kind === 'NotEqual') return a !== b;
      return false;
    }
    return comparison.test(compareValues(a, b, type));
  };
}

/** A column value (a JSON scalar) as text. */
function columnText(value: unknown): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : JSON.stringify(value);
}

/** Orders two values of a column the way Dataverse's database does (text case-insensitively). */
export function compareValues(a: unknown, b: unknown, type?: ColumnType): number {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  if (b === null || b === undefined) return 1;
  if (type === 'datetime') return Math.sign(Date.parse(columnText(a)) - Date.parse(columnText(b)));
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = columnText(a).toLowerCase();
  const y = columnText(b).toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function operand(node: Node, schema: EntitySetSchema): Operand {
  if (node.type === 'Literal') return literal(node);
  if (node.type === 'CommonExpression' || node.type === 'ParenExpression') return operand(node.value as Node, schema);
  if (node.type === 'MethodCallExpression')
    throw notImplemented(`the '${(node.value as { method: string }).method}' function in $filter`);
  const column = propertyName(node);
  return { kind: 'property', column, type: requireColumn(schema, column) };
}

function propertyName(node: Node): string {
  const name = node.raw.trim();
  if (name.includes('/')) throw notImplemented(`navigation paths in query options ('${name}')`);
  if (!IDENTIFIER.test(name)) throw badQuery(`Syntax error at '${name}'.`);
  return name;
}

function literal(node: Node): Operand {
  const edm = String(node.value);
  const raw = node.raw;
  switch (edm) {
    case 'null':
      return { kind: 'literal', edm, value: null };
    case 'Edm.String':
      // OData ABNF: a quote inside a string literal is written as two quotes.
      return { kind: 'literal', edm, value: raw.slice(1, -1).replace(/''/g, "'") };
    case 'Edm.Boolean':
      return { kind: 'literal', edm, value: raw.toLowerCase() === 'true' };
    case 'Edm.Guid':
      return { kind: 'literal', edm, value: raw.toLowerCase() };
    case 'Edm.DateTimeOffset':
    case 'Edm.Date':
      return { kind: 'literal', edm, value: raw };
    default:
      if (NUMERIC.has(edm)) return { kind: 'literal', edm, value: Number(raw) };
      throw notImplemented(`${edm} literals`);
  }
}

// --- $expand ---------------------------------------------------------------------------------

export function parseExpand(text: string, schema: EntitySetSchema, store: RecordStore): Expansion[] {
  const options = parseWith(() => defaultParser.query(`$expand=${text}`) as unknown as Node, text);
  const expand = (options.value as { options: Node[] }).options[0]!.value as { items: Node[] };
  return expand.items.map((item) => {
    const { path, options: nested } = item.value as { path: Node; options?: Node[] };
    const navigation = path.raw;
    const lookup = schema.lookups[navigation];
    const collection = schema.collections[navigation];
    if (!lookup && !collection) {
      throw badQuery(
        `Could not find a property named '${navigation}' on type 'Microsoft.Dynamics.CRM.${schema.logicalName}'.`,
      );
    }
    const target = store.schema(lookup ? lookup.target : collection!.set);
    const expansion: Expansion = lookup
      ? { navigation, target: target.set, lookupColumn: lookup.column }
      : { navigation, target: target.set, backReference: collection!.column };
    for (const option of nested ?? []) {
      const raw = option.raw.slice(option.raw.indexOf('=') + 1);
      if (option.type === 'Select') expansion.select = parseSelect(raw, target);
      else if (option.type === 'Expand') throw notImplemented('nested $expand (more than one level)');
      else if (lookup)
        throw badQuery(`Only $select and $expand are supported in $expand of the single-valued '${navigation}'.`);
      else if (option.type === 'Filter') expansion.filter = parseFilter(raw, target);
      else if (option.type === 'OrderBy') expansion.orderBy = parseOrderBy(raw, target);
      else if (option.type === 'Top') expansion.top = parseTop(raw);
      else throw notImplemented(`${option.type} inside $expand`);
    }
    return expansion;
  });
}

// --- evaluation ------------------------------------------------------------------------------

/** Filters and orders `records` (stable, by each key in turn). */
export function evaluate(
  records: EntityRecord[],
  schema: EntitySetSchema,
  filter?: Predicate,
  orderBy: OrderBy[] = [],
): EntityRecord[] {
  const matched = filter ? records.filter(filter) : [...records];
  if (orderBy.length > 0) {
    matched.sort((a, b) => {
      for (const { column, descending } of orderBy) {
        const order = compareValues(a.data[column], b.data[column], schema.columns[column]?.type);
        if (order !== 0) return descending ? -order : order;
      }
      return 0;
    });
  }
  return matched;
}

/** A record as JSON: `@odata.etag`, the selected (or default) columns with nulls, expanded navigation. */
export function shapeRecord(
  record: EntityRecord,
  schema: EntitySetSchema,
  store: RecordStore,
  select?: string[],
  expand: Expansion[] = [],
): Record<string, unknown> {
  const columns = select ? [...new Set([...select, schema.key])] : defaultColumns(schema);
  const shaped: Record<string, unknown> = { '@odata.etag': etagOf(record) };
  for (const column of columns) shaped[column] = record.data[column] ?? null;
  for (const expansion of expand) {
    const target = store.schema(expansion.target);
    if (expansion.lookupColumn) {
      const id = record.data[expansion.lookupColumn];
      const related = typeof id === 'string' ? store.get(target.set, id) : undefined;
      shaped[expansion.navigation] = related ? shapeRecord(related, target, store, expansion.select) : null;
    } else {
      const related = store.all(target.set).filter((r) => r.data[expansion.backReference!] === record.id);
      const ordered = evaluate(related, target, expansion.filter, expansion.orderBy);
      const limited = expansion.top === undefined ? ordered : ordered.slice(0, expansion.top);
      shaped[expansion.navigation] = limited.map((r) => shapeRecord(r, target, store, expansion.select));
    }
  }
  return shaped;
}

export function etagOf(record: EntityRecord): string {
  return `W/"${record.version}"`;
}

/** The `#…` part of `@odata.context`: the set, the selected columns and expanded navigation. */
export function contextFragment(
  schema: EntitySetSchema,
  options: Pick<QueryOptions, 'select' | 'expand'>,
  single: boolean,
): string {
  const parts = [...(options.select ?? [])];
  for (const e of options.expand) parts.push(`${e.navigation}(${(e.select ?? []).join(',')})`);
  return `${schema.set}${parts.length > 0 ? `(${parts.join(',')})` : ''}${single ? '/$entity' : ''}`;
}
