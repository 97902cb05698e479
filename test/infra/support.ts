/** Helpers shared by the infra tests: app creation with cdk.json's context, template walking. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { FUNCTIONS, type FunctionName } from '../../shared/http/routes.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The app and its cdk-nag plugin, exactly as infra/app.ts wires them (same feature flags as `cdk synth`). */
export function newApp(extraContext: Record<string, unknown> = {}): App {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const app = new App({ context: { ...cdkJson.context, ...extraContext } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

/** All unacknowledged AwsSolutions findings (errors AND warnings) below `scope`. */
export function nagFindings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(scope);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath ?? '?'}: ${v.description}`),
  );
}

/**
 * The routes of each function, as shared/http/routes.ts declares them (`METHOD /path`). What they must
 * serve is checked against the OpenAPI document (service.test.ts › every documented operation …),
 * not against a copy of this table.
 */
export const ROUTES: Readonly<Record<FunctionName, readonly string[]>> = Object.fromEntries(
  FUNCTIONS.map((spec) => [spec.name, spec.routes.map((r) => `${r.method} ${r.path}`)]),
) as unknown as Record<FunctionName, readonly string[]>;
export type Fn = FunctionName;
export const FN_NAMES = Object.keys(ROUTES) as Fn[];
export const ROUTE_KEYS = Object.values(ROUTES).flat();

/** Context that skips esbuild bundling for every stack (for tests that never look at the bundles). */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Resource {
  Type: string;
  Properties?: Json;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export function resourcesOf(template: Template, type?: string): Record<string, Resource> {
  const all = template.toJSON().Resources as Record<string, Resource>;
  return Object.fromEntries(Object.entries(all).filter(([, r]) => type === undefined || r.Type === type));
}

/** Logical id named by `{Ref: id}` or `{Fn::GetAtt: [id, attr]}`; undefined for anything else. */
export function refId(value: Json): string | undefined {
  if (value && typeof value === 'object') {
    if (typeof value.Ref === 'string') return value.Ref;
    if (Array.isArray(value['Fn::GetAtt'])) return value['Fn::GetAtt'][0];
  }
  return undefined;
}

export const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Route key → logical id of the Lambda function its integration invokes. */
export function routeTargets(template: Template, apiLogicalId?: string): Map<string, string> {
  const integrations = resourcesOf(template, 'AWS::ApiGatewayV2::Integration');
  const out = new Map<string, string>();
  for (const route of Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))) {
    if (apiLogicalId && refId(route.Properties.ApiId) !== apiLogicalId) continue;
    const target = route.Properties.Target;
    // Target: { "Fn::Join": ["", ["integrations/", { Ref: integrationId }]] }
    const integrationId = refId(target['Fn::Join'][1][1]);
    const integration = integrations[integrationId ?? ''];
    if (!integration) throw new Error(`route ${route.Properties.RouteKey} has no integration`);
    const fnId = refId(integration.Properties.IntegrationUri);
    if (!fnId) throw new Error(`integration ${integrationId} does not point at a function`);
    out.set(route.Properties.RouteKey, fnId);
  }
  return out;
}

/**
 * Function logical ids by name, resolved through the routes (the contract), for one API. Throws if a
 * route is missing or a function's routes do not all invoke the same function.
 */
export function functionsByName(template: Template, apiLogicalId?: string): Record<Fn, string> {
  const targets = routeTargets(template, apiLogicalId);
  return Object.fromEntries(
    FN_NAMES.map((name) => {
      const ids = new Set(
        ROUTES[name].map((key) => {
          const id = targets.get(key);
          if (!id) throw new Error(`no route ${key}`);
          return id;
        }),
      );
      if (ids.size !== 1) throw new Error(`${name}'s routes invoke ${ids.size} different functions`);
      return [name, [...ids][0]!];
    }),
  ) as Record<Fn, string>;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: Json;
  Condition?: Json;
  Principal?: Json;
  Sid?: string;
}

/** Every statement of every identity policy (AWS::IAM::Policy and inline role policies). */
export function allIamStatements(template: Template): { owner: string; statement: Statement }[] {
  const out: { owner: string; statement: Statement }[] = [];
  for (const [id, p] of Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))) {
    for (const s of p.Properties.PolicyDocument.Statement) out.push({ owner: id, statement: s });
  }
  for (const [id, r] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
    for (const p of asArray(r.Properties.Policies as Json[])) {
      for (const s of p.PolicyDocument.Statement) out.push({ owner: id, statement: s });
    }
  }
  return out;
}

/** Statements that apply to one role (its AWS::IAM::Policy resources and inline policies). */
export function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  const out: Statement[] = [];
  for (const p of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    if (asArray(p.Properties.Roles as Json[]).some((r) => refId(r) === roleLogicalId)) {
      out.push(...p.Properties.PolicyDocument.Statement);
    }
  }
  const role = resourcesOf(template, 'AWS::IAM::Role')[roleLogicalId];
  for (const p of asArray(role?.Properties.Policies as Json[])) out.push(...p.PolicyDocument.Statement);
  return out;
}

/** Role logical id of a function. */
export function roleOf(template: Template, fnLogicalId: string): string {
  const fn = resourcesOf(template, 'AWS::Lambda::Function')[fnLogicalId];
  const id = refId(fn?.Properties.Role);
  if (!id) throw new Error(`function ${fnLogicalId} has no role in this template`);
  return id;
}

/** Does any string inside `value` contain `*`? (Walks Fn::Join etc.) */
export function containsWildcard(value: Json): boolean {
  if (typeof value === 'string') return value.includes('*');
  if (Array.isArray(value)) return value.some(containsWildcard);
  if (value && typeof value === 'object') return Object.values(value).some(containsWildcard);
  return false;
}

/** One operation of the OpenAPI document (shared/http/openapi.json). */
export interface DocumentedOperation {
  readonly method: string;
  /** The path template, e.g. `/connections/{connectionId}/token`. */
  readonly path: string;
  /** `security: []`: callable before signing in (no credential). */
  readonly public: boolean;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every operation the OpenAPI document describes. */
export function documentedOperations(): DocumentedOperation[] {
  const doc = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'shared/http/openapi.json'), 'utf8'));
  const out: DocumentedOperation[] = [];
  for (const [p, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      const security = op.security ?? doc.security ?? [];
      out.push({ method: method.toUpperCase(), path: p, public: security.length === 0 });
    }
  }
  return out;
}

/** Request headers the OpenAPI document asks clients to send: header parameters, and Authorization for bearer schemes. */
export function documentedRequestHeaders(): string[] {
  const doc = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'shared/http/openapi.json'), 'utf8'));
  const names = new Set<string>();
  const collect = (value: Json): void => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (value && typeof value === 'object') {
      if (value.in === 'header' && typeof value.name === 'string') names.add(value.name);
      Object.values(value).forEach(collect);
    }
  };
  collect(doc.paths);
  collect(doc.components?.parameters);
  const schemes = Object.values((doc.components?.securitySchemes ?? {}) as Record<string, Json>);
  if (schemes.some((s) => s.type === 'http' && s.scheme === 'bearer')) names.add('Authorization');
  return [...names];
}

/** A concrete request path for a path template: each `{parameter}` becomes `x`. */
export const samplePath = (template: string): string => template.replace(/\{[^}]+\}/g, 'x');

/**
 * The route key API Gateway (HTTP API) selects for a request, among `routeKeys`: a `{name}` segment
 * matches one segment, a trailing `{name+}` one or more; routes without a greedy segment win over
 * greedy ones, and an exact method over `ANY` (API Gateway: "Routing API requests").
 */
export function selectRoute(routeKeys: Iterable<string>, method: string, requestPath: string): string | undefined {
  const segments = requestPath.split('/').slice(1);
  const candidates = [...routeKeys].filter((key) => {
    const [routeMethod, routePath] = key.split(' ') as [string, string];
    if (routeMethod !== 'ANY' && routeMethod !== method) return false;
    const parts = routePath.split('/').slice(1);
    const greedy = parts.at(-1)?.endsWith('+}') ?? false;
    if (greedy ? segments.length < parts.length : segments.length !== parts.length) return false;
    return parts.every((part, i) => (part.startsWith('{') && part.endsWith('}')) || part === segments[i]);
  });
  const rank = (key: string) => (key.includes('+}') ? 2 : 0) + (key.startsWith('ANY ') ? 1 : 0);
  return candidates.sort((a, b) => rank(a) - rank(b))[0];
}
