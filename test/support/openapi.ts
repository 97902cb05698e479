/**
 * Validates real responses against the service's OpenAPI document (`shared/http/openapi.json`).
 *
 *   const answer = await stack.routes().session({ path: '/auth/session', cookies: [sessionCookie] });
 *   expectMatchesOpenApi('GET', '/auth/session', answer.statusCode, answer);
 *
 * It finds the operation, checks that the status is documented (exact, then `4XX`-style range, then
 * `default`), that every required response header is present and every documented header matches
 * its schema, that the body's content type is documented, and that a JSON body matches the
 * documented schema. All problems are collected and thrown as one readable error.
 */
import { readFileSync } from 'node:fs';
import Ajv2020Module, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { FUNCTIONS } from '../../shared/http/routes.ts';

// ajv and ajv-formats are CommonJS; under NodeNext their default import is `module.exports`.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

export const OPENAPI_FILE = new URL('../../shared/http/openapi.json', import.meta.url);

type JsonObject = Record<string, unknown>;

export interface OpenApiDocument extends JsonObject {
  openapi: string;
  paths: Record<string, JsonObject>;
  components?: Record<string, Record<string, unknown>>;
}

/** The document as stored (parsed once per test file). */
export const openApiDocument = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;

/** A response as a handler returns it (an `HttpResponse` fits), or as seen over HTTP. */
export interface OpenApiResponse {
  headers?: Record<string, string | number | boolean | undefined>;
  /** Set-Cookie values (API Gateway v2 keeps them out of `headers`). */
  cookies?: string[];
  /** The body as returned: text, or base64 when `isBase64Encoded` (it is then decoded here). */
  body?: string;
  isBase64Encoded?: boolean;
  /** Overrides the `Content-Type` header. */
  contentType?: string;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

// The document is added whole under this id, so `#/components/...` refs resolve anywhere inside it.
const DOC_ID = 'https://dynamics-auth.invalid/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...openApiDocument, $id: DOC_ID });
const validators = new Map<string, ValidateFunction>();

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `['paths', '/auth/login']` → `#/paths/~1auth~1login` (JSON pointer as a URI fragment). */
export function toFragment(parts: readonly string[]): string {
  return `#${parts.map((p) => `/${encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))}`).join('')}`;
}

function fromFragment(ref: string): string[] | undefined {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((p) => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** What a local `$ref` (`#/components/...`) points at in the document, or undefined. */
export function resolveRef(ref: string): unknown {
  const parts = fromFragment(ref);
  if (!parts) return undefined;
  let node: unknown = openApiDocument;
  for (const part of parts) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObject(node) && Object.hasOwn(node, part)) node = node[part];
    else return undefined;
  }
  return node;
}

interface Located {
  node: JsonObject;
  /** Where `node` is in the document (after following `$ref`s). */
  parts: string[];
}

/** Follows `$ref` chains (Reference Objects: responses, headers, parameters). */
function deref(node: unknown, parts: string[]): Located {
  let current = node;
  let where = parts;
  for (let hops = 0; isObject(current) && typeof current.$ref === 'string'; hops++) {
    const target = fromFragment(current.$ref);
    const resolved = resolveRef(current.$ref);
    if (!target || resolved === undefined || hops > 20)
      throw new Error(`OpenAPI: unresolvable $ref ${current.$ref} at ${toFragment(where)}`);
    current = resolved;
    where = target;
  }
  if (!isObject(current)) throw new Error(`OpenAPI: ${toFragment(where)} is not an object`);
  return { node: current, parts: where };
}

/** A compiled validator for the schema at `parts` (cached). */
export function schemaValidator(parts: readonly string[]): ValidateFunction {
  const fragment = toFragment(parts);
  let validate = validators.get(fragment);
  if (!validate) {
    validate = ajv.compile({ $ref: `${DOC_ID}${fragment}` });
    validators.set(fragment, validate);
  }
  return validate;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function templatePattern(template: string, greedyLast: boolean): RegExp {
  const pieces = template.split(/(\{[^}]+\})/).filter((p) => p !== '');
  const lastVar = pieces.map((p) => p.startsWith('{')).lastIndexOf(true);
  const source = pieces
    .map((p, i) =>
      p.startsWith('{') ? (greedyLast && i === lastVar && i === pieces.length - 1 ? '.+' : '[^/]+') : escapeRegex(p),
    )
    .join('');
  return new RegExp(`^${source}$`);
}

/** Characters outside `{variables}`: among matching templates the most literal is the most specific. */
const literalLength = (template: string) => template.replace(/\{[^}]+\}/g, '').length;

/** Route prefixes whose `{proxy+}` spans the rest of the path (API Gateway's greedy variable). */
const GREEDY_PREFIXES = FUNCTIONS.flatMap((f) => f.routes)
  .filter((r) => r.path.endsWith('/{proxy+}'))
  .map((r) => r.path.slice(0, -'{proxy+}'.length));

/** A template documenting such a route (`/api/data/{path}`): its one variable spans segments. */
const spansSegments = (template: string) =>
  GREEDY_PREFIXES.some((p) => template.startsWith(p) && /^\{[^{}/]+\}$/.test(template.slice(p.length)));

export interface FoundOperation {
  template: string;
  method: string;
  operation: JsonObject;
  parts: string[];
}

/**
 * The operation for `method` and a path. The path is a template key of the document
 * (`/auth/session`, `/api/data/{path}`) or a concrete path (`/connections/abc/token`,
 * `/api/data/v9.2/accounts`): a concrete path matches a template whose variables each match one
 * segment (the most literal one when several do: `{entitySet}({id})` over `{entitySet}`), or else the template of a `{proxy+}` route, whose variable spans the rest (the proxy's `{path}`).
 */
export function findOperation(method: string, path: string): FoundOperation {
  const paths = openApiDocument.paths;
  const concrete = path.split('?')[0]!;
  const templates = Object.keys(paths);
  const template =
    (Object.hasOwn(paths, concrete) ? concrete : undefined) ??
    templates
      .filter((t) => templatePattern(t, false).test(concrete))
      .sort((a, b) => literalLength(b) - literalLength(a))[0] ??
    templates.find((t) => spansSegments(t) && templatePattern(t, true).test(concrete));
  if (!template)
    throw new Error(`OpenAPI: no path in the document matches ${path} (documented: ${templates.join(', ')})`);
  const item = deref(paths[template], ['paths', template]);
  const key = method.toLowerCase();
  const operation = item.node[key];
  if (!isObject(operation)) {
    const documented = HTTP_METHODS.filter((m) => isObject(item.node[m])).map((m) => m.toUpperCase());
    throw new Error(
      `OpenAPI: ${method.toUpperCase()} ${template} is not documented (documented: ${documented.join(', ')})`,
    );
  }
  return { template, method: key.toUpperCase(), operation, parts: [...item.parts, key] };
}

function headerLookup(response: OpenApiResponse): (name: string) => string[] {
  const entries = Object.entries(response.headers ?? {}).filter(([, v]) => v !== undefined);
  return (name) => {
    const values = entries.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => String(v));
    if (name.toLowerCase() === 'set-cookie') values.push(...(response.cookies ?? []));
    return values;
  };
}

/** `application/json; charset=utf-8` → `application/json`. */
const mediaTypeOf = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();
const isJsonMediaType = (mediaType: string) => /^application\/(?:[\w.-]+\+)?json$/.test(mediaType);

/** The documented media type key for a response content type: exact, then `type/*`, then `*\/*`. */
function pickMediaKey(content: JsonObject, contentType: string | undefined): string | undefined {
  const keys = Object.keys(content);
  if (contentType === undefined) return keys.find((k) => k === '*/*');
  const type = mediaTypeOf(contentType);
  return (
    keys.find((k) => mediaTypeOf(k) === type) ??
    keys.find((k) => mediaTypeOf(k) === `${type.split('/')[0]}/*`) ??
    keys.find((k) => k === '*/*')
  );
}

export function describeAjvErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const params = e.params as Record<string, unknown>;
    const detail =
      params.additionalProperty !== undefined
        ? ` '${typeof params.additionalProperty === 'string' ? params.additionalProperty : JSON.stringify(params.additionalProperty)}'`
        : params.allowedValues !== undefined
          ? ` ${JSON.stringify(params.allowedValues)}`
          : params.allowedValue !== undefined
            ? ` ${JSON.stringify(params.allowedValue)}`
            : '';
    return `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${detail} [${e.schemaPath}]`;
  });
}

const snippet = (text: string) => (text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text);

/**
 * Throws unless the response is what the document says `method path` answers with `status`.
 * Returns the parsed JSON body when the documented content is JSON (else undefined).
 */
export function expectMatchesOpenApi(
  method: string,
  path: string,
  status: number,
  response: OpenApiResponse = {},
): unknown {
  const found = findOperation(method, path);
  const label = `${found.method} ${found.template} → ${status}`;
  const responses = found.operation.responses;
  if (!isObject(responses)) throw new Error(`OpenAPI: ${label}: the operation documents no responses`);
  const statusKey = [String(status), `${Math.floor(status / 100)}XX`, 'default'].find((k) =>
    Object.hasOwn(responses, k),
  );
  if (!statusKey) {
    throw new Error(
      `OpenAPI: ${label}: status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`,
    );
  }
  const documented = deref(responses[statusKey], [...found.parts, 'responses', statusKey]);
  const problems: string[] = [];
  const headerValues = headerLookup(response);

  for (const [name, rawHeader] of Object.entries(isObject(documented.node.headers) ? documented.node.headers : {})) {
    if (name.toLowerCase() === 'content-type') continue; // ignored by OpenAPI: described by `content`
    const header = deref(rawHeader, [...documented.parts, 'headers', name]);
    const values = headerValues(name);
    if (values.length === 0) {
      if (header.node.required === true) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (!isObject(header.node.schema)) continue;
    const validate = schemaValidator([...header.parts, 'schema']);
    for (const value of values) {
      if (!validate(value))
        problems.push(`header ${name}: ${JSON.stringify(value)} ${describeAjvErrors(validate.errors).join('; ')}`);
    }
  }

  const text = response.isBase64Encoded
    ? Buffer.from(response.body ?? '', 'base64').toString('utf8')
    : (response.body ?? '');
  const contentType = response.contentType ?? headerValues('content-type')[0];
  const content = isObject(documented.node.content) ? documented.node.content : undefined;
  let parsed: unknown;
  if (!content || Object.keys(content).length === 0) {
    if (text.length > 0)
      problems.push(`the document describes no body, but the response has ${text.length} characters`);
  } else if (text.length === 0) {
    if (!Object.hasOwn(content, '*/*'))
      problems.push(`the document describes a body (${Object.keys(content).join(', ')}), but the response has none`);
  } else {
    const mediaKey = pickMediaKey(content, contentType);
    if (mediaKey === undefined) {
      problems.push(
        `content type ${JSON.stringify(contentType ?? null)} is not documented (documented: ${Object.keys(content).join(', ')})`,
      );
    } else if (isJsonMediaType(mediaTypeOf(mediaKey))) {
      try {
        parsed = JSON.parse(text);
      } catch {
        problems.push(`the body is not JSON, but the documented content is ${mediaKey}`);
      }
      const media = content[mediaKey];
      if (parsed !== undefined && isObject(media) && media.schema !== undefined) {
        const validate = schemaValidator([...documented.parts, 'content', mediaKey, 'schema']);
        if (!validate(parsed)) {
          const where =
            isObject(media.schema) && typeof media.schema.$ref === 'string' ? media.schema.$ref : `${mediaKey} schema`;
          problems.push(
            `the body does not match ${where}:`,
            ...describeAjvErrors(validate.errors).map((e) => `  ${e}`),
          );
        }
      }
    }
  }

  if (problems.length > 0) {
    throw new Error(
      [
        `OpenAPI: ${label} (responses.${statusKey} at ${toFragment(documented.parts)}) does not match:`,
        ...problems.map((p) => `  - ${p}`),
        `  body: ${snippet(text)}`,
      ].join('\n'),
    );
  }
  return parsed;
}
