import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { withoutTrailingSlash } from '../shared/config/urls.ts';
import { bearerCredential } from '../shared/http/bearer.ts';

/** One Dataverse environment as the stand-in lists it. */
export interface DiscoveredEnvironment {
  /** The environment URL: the token audience (`https://<org>.crm.dynamics.com`). */
  url: string;
  /** The Web API host (`https://<org>.api.crm.dynamics.com`); default: `url`. */
  apiUrl?: string;
  uniqueName: string;
  friendlyName: string;
  /** The Entra tenant that owns the environment. */
  tenantId: string;
  /** Entra object ids of its users (default: every user of its tenant). */
  members?: string[];
  region?: string;
}

export interface DiscoveryStandInOptions {
  /** The development IdP's issuer; bearer tokens must be signed by its JWKS and carry this `iss`. */
  issuer: string;
  environments: DiscoveredEnvironment[];
}

const INSTANCES = '/api/discovery/v2.0/Instances';

/**
 * A development stand-in for the Global Discovery Service Web API: `GET /api/discovery/v2.0/Instances`
 * lists the environments of the token's user (same tenant and, when an environment names its
 * members, one of them), in Global Discovery's `Instance` shape; `Instances(UniqueName='…')` answers
 * one. Like the real service it takes only tokens issued for itself (`aud` = its own URL, from the
 * scope `<discovery URL>/user_impersonation`).
 * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/discovery-service
 */
export class DiscoveryStandIn {
  private server?: Server;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly environments: DiscoveredEnvironment[];
  /** How many requests it answered (for tests that count discovery calls). */
  requestCount = 0;
  url = '';

  constructor(private readonly options: DiscoveryStandInOptions) {
    this.jwks = createRemoteJWKSet(new URL(`${withoutTrailingSlash(options.issuer)}/jwks`));
    this.environments = options.environments;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch(() =>
        reply(res, 500, { error: { code: 'InternalServerError', message: 'Stand-in failure' } }),
      );
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    this.server = server;
    this.url = `http://${host}:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The environments a user (by tenant and object id) can reach. */
  environmentsOf(tenantId: string, objectId: string): DiscoveredEnvironment[] {
    return this.environments.filter(
      (e) =>
        e.tenantId === tenantId &&
        (!e.members || e.members.map((m) => m.toLowerCase()).includes(objectId.toLowerCase())),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requestCount++;
    const url = new URL(req.url ?? '/', this.url);
    const claims = await this.authenticate(req.headers.authorization);
    if (!claims) {
      res.setHeader(
        'www-authenticate',
        `Bearer error="invalid_token", authorization_uri="${this.options.issuer}", resource_id="${this.url}"`,
      );
      reply(res, 401, {
        error: {
          code: 'Unauthorized',
          message: 'The access token is missing, expired, invalid or issued for another resource.',
        },
      });
      return;
    }
    if (req.method !== 'GET') {
      reply(res, 405, {
        error: { code: 'MethodNotAllowed', message: `The HTTP method '${req.method}' is not allowed.` },
      });
      return;
    }
    const mine = this.environmentsOf(
      typeof claims.tid === 'string' ? claims.tid : '',
      typeof claims.oid === 'string' ? claims.oid : '',
    );
    const context = `${this.url}/api/discovery/v2.0/$metadata#Instances`;
    if (url.pathname === INSTANCES) {
      reply(res, 200, { '@odata.context': context, value: mine.map((e) => instance(e)) });
      return;
    }
    const byName = /^\/api\/discovery\/v2\.0\/Instances\(UniqueName='([^']*)'\)$/.exec(
      decodeURIComponent(url.pathname),
    );
    const found = byName && mine.find((e) => e.uniqueName.toLowerCase() === byName[1]!.toLowerCase());
    if (found) {
      reply(res, 200, { '@odata.context': `${context}/$entity`, ...instance(found) });
      return;
    }
    reply(res, 404, { error: { code: 'NotFound', message: 'No instance found for the request.' } });
  }

  private async authenticate(authorization: string | undefined): Promise<JWTPayload | undefined> {
    const token = bearerCredential(authorization);
    if (!token) return undefined;
    try {
      // Global Discovery takes only tokens for its own resource (scope `<discovery URL>/user_impersonation`).
      return (await jwtVerify(token, this.jwks, { issuer: this.options.issuer, audience: this.url })).payload;
    } catch {
      return undefined;
    }
  }
}

/** An environment in Global Discovery's `Instance` shape (v2.0). */
function instance(e: DiscoveredEnvironment): Record<string, unknown> {
  const id = stableGuid(e.url);
  return {
    Id: id,
    UniqueName: e.uniqueName,
    UrlName: e.uniqueName,
    FriendlyName: e.friendlyName,
    State: 0,
    Version: '9.2.24101.00200',
    Url: e.url,
    ApiUrl: e.apiUrl ?? e.url,
    LastUpdated: '2026-01-05T08:00:00Z',
    Region: e.region ?? 'NA',
    TenantId: e.tenantId,
    EnvironmentId: stableGuid(`environment ${e.url}`),
    DatacenterId: stableGuid(`datacenter ${e.region ?? 'NA'}`),
    Purpose: '',
    TrialExpirationDate: null,
    IsUserSysAdmin: false,
    OrganizationType: 0,
    OrganizationId: id,
  };
}

/** A GUID derived from a string, so an environment keeps its ids for the stand-in's lifetime. */
function stableGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json; odata.metadata=minimal', 'odata-version': '4.0' });
  res.end(JSON.stringify(body));
}
