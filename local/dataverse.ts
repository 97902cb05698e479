import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** One request as the stand-in received it (for tests' assertions). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface Entity {
  id: string;
  etag: number;
  data: Record<string, unknown>;
}

export interface DataverseStandInOptions {
  /** The development IdP's issuer; bearer tokens must be signed by its JWKS and carry this `iss`. */
  issuer: string;
  /** JWKS URL of the IdP (default `${issuer}/jwks`). */
  jwksUri?: string;
  /** Accounts seeded at start (default: three). */
  seedAccounts?: number;
}

/** Only the latest requests are kept, so a long load run does not grow memory. */
const MAX_RECORDED = 1_000;
const API = /^\/api\/data\/v9\.2\/(.*)$/;
const ENTITY_SETS: Record<string, { key: string; name: string }> = {
  accounts: { key: 'accountid', name: 'account' },
  contacts: { key: 'contactid', name: 'contact' },
};

/**
 * A development stand-in for the Dataverse Web API (v9.2): WhoAmI, accounts and contacts (list with
 * $top/$select/paging, get, create, update, delete), $batch pass-through and a binary column. It
 * checks bearer tokens against the IdP's JWKS and answers 401 for an expired or unknown token or a
 * rejected user's, and can be told to answer the next requests with 429 + Retry-After or any status.
 */
export class DataverseStandIn {
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private readonly sets = new Map<string, Map<string, Entity>>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private scripted: { status: number; headers: Record<string, string>; body: string; reset?: boolean }[] = [];
  private delayMs = 0;
  /** Tokens presented so far (by SHA-256), and those revoked by expireIssuedTokens(). */
  private readonly seenTokens = new Set<string>();
  private readonly revokedTokens = new Set<string>();
  /** Users (by `oid`) whose every token, however fresh, is answered with 401. */
  private readonly rejectedUsers = new Set<string>();
  url = '';

  constructor(private readonly options: DataverseStandInOptions) {
    this.jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/jwks`));
    for (const set of Object.keys(ENTITY_SETS)) this.sets.set(set, new Map());
    const seed = options.seedAccounts ?? 3;
    const names = ['Contoso Ltd', 'Fabrikam Inc', 'Adventure Works', 'Northwind Traders', 'Litware Inc'];
    for (let i = 0; i < seed; i++) {
      this.insert('accounts', { name: names[i % names.length] + (i >= names.length ? ` ${i}` : ''), revenue: 1000 * (i + 1) });
    }
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: '0x80040216', message: 'Stand-in failure' } }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host}:${address.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `count` authenticated requests get this answer instead of the real one. */
  failNext(status: number, count = 1, headers: Record<string, string> = {}, body = ''): void {
    for (let i = 0; i < count; i++) this.scripted.push({ status, headers, body });
  }

  /** The next `count` authenticated requests have their connection reset instead of an answer. */
  resetNext(count = 1): void {
    for (let i = 0; i < count; i++) this.scripted.push({ status: 0, headers: {}, body: '', reset: true });
  }

  /** The next `count` requests get 429 with `Retry-After: seconds` (service protection limits). */
  throttleNext(retryAfterSeconds: number, count = 1): void {
    const body = JSON.stringify({ error: { code: '0x80072322', message: 'Number of requests exceeded the limit.' } });
    this.failNext(429, count, { 'retry-after': String(retryAfterSeconds), 'content-type': 'application/json' }, body);
  }

  /** Delay every answer (to test timeouts). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Treat every access token presented so far as expired; tokens issued later still work. */
  expireIssuedTokens(): void {
    for (const token of this.seenTokens) this.revokedTokens.add(token);
    this.seenTokens.clear();
  }

  /**
   * Answer 401 to every token of this user, as Dataverse does for a user who is no member of the
   * environment (e.g. from another tenant of a multi-tenant app), until acceptUser().
   */
  rejectUser(oid: string): void {
    this.rejectedUsers.add(oid);
  }

  acceptUser(oid: string): void {
    this.rejectedUsers.delete(oid);
  }

  insert(set: string, data: Record<string, unknown>): Entity {
    const id = randomUUID();
    const entity = { id, etag: 1, data: { ...data, [ENTITY_SETS[set]!.key]: id, createdon: new Date().toISOString() } };
    this.sets.get(set)!.set(id, entity);
    return entity;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, headers: { ...req.headers }, body });
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, this.requests.length - MAX_RECORDED);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));

    const claims = await this.authenticate(req.headers.authorization);
    if (!claims) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer error="invalid_token", authorization_uri="${this.options.issuer}"`,
      });
      res.end(JSON.stringify({ error: { code: '0x80072182', message: 'The access token is expired or invalid.' } }));
      return;
    }
    const scripted = this.scripted.shift();
    if (scripted?.reset) {
      req.socket.destroy();
      return;
    }
    if (scripted) {
      res.writeHead(scripted.status, scripted.headers);
      res.end(scripted.body);
      return;
    }
    const match = API.exec(url.pathname);
    if (!match) return this.odataError(res, 404, 'Resource not found for the segment.');
    await this.route(req.method ?? 'GET', match[1] ?? '', url, req, body, claims, res);
  }

  private async authenticate(authorization: string | undefined): Promise<JWTPayload | undefined> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.jwks, { issuer: this.options.issuer });
      const id = createHash('sha256').update(token).digest('base64url');
      if (this.revokedTokens.has(id)) return undefined;
      if (typeof payload.oid === 'string' && this.rejectedUsers.has(payload.oid)) return undefined;
      this.seenTokens.add(id);
      return payload;
    } catch {
      return undefined;
    }
  }

  private send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    res.writeHead(status, {
      ...(payload === undefined ? {} : { 'content-type': 'application/json; odata.metadata=minimal' }),
      'odata-version': '4.0',
      ...headers,
    });
    res.end(body);
  }

  private odataError(res: ServerResponse, status: number, message: string): void {
    this.send(res, status, { error: { code: '0x80060888', message } });
  }

  /**
   * `accounts(name='O''Brien')` → `accounts(<id>)` (an alternate key: any columns, OData string
   * literals with doubled quotes, percent-decoded), null when no record matches, undefined when the
   * segment is not an alternate-key reference.
   */
  private findByAlternateKey(rest: string): string | null | undefined {
    const match = /^(accounts|contacts)\(([^)]*=[^)]*)\)$/.exec(rest);
    if (!match) return undefined;
    const [, set, encodedKey] = match as unknown as [string, string, string];
    let text: string;
    try {
      text = decodeURIComponent(encodedKey);
    } catch {
      return undefined;
    }
    const key: Record<string, string> = {};
    const pair = /^(\w+)='((?:[^']|'')*)'(?:,|$)/;
    for (let found = pair.exec(text); found; found = pair.exec(text)) {
      key[found[1]!] = found[2]!.replace(/''/g, "'");
      text = text.slice(found[0].length);
    }
    if (text !== '' || Object.keys(key).length === 0) return undefined;
    const entity = [...this.sets.get(set)!.values()].find((e) => Object.entries(key).every(([k, v]) => e.data[k] === v));
    return entity ? `${set}(${entity.id})` : null;
  }

  private async route(
    method: string,
    rest: string,
    url: URL,
    req: IncomingMessage,
    body: Buffer,
    claims: JWTPayload,
    res: ServerResponse,
  ): Promise<void> {
    const base = `${this.url}/api/data/v9.2/`;
    if ((rest === 'WhoAmI' || rest === 'WhoAmI()') && method === 'GET') {
      return this.send(res, 200, {
        '@odata.context': `${base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`,
        UserId: String(claims.oid ?? claims.sub ?? ''),
        BusinessUnitId: '00000000-0000-0000-0000-00000000b001',
        OrganizationId: '00000000-0000-0000-0000-00000000a001',
      });
    }
    if (rest === '$batch' && method === 'POST') {
      // Pass-through check: answer with a multipart/mixed body that names how many bytes arrived.
      const boundary = `batchresponse_${randomUUID()}`;
      const text =
        `--${boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n` +
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"receivedBytes":${body.length}}\r\n--${boundary}--\r\n`;
      res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}`, 'odata-version': '4.0' });
      res.end(text);
      return;
    }
    const alternate = this.findByAlternateKey(rest);
    if (alternate === null) return this.odataError(res, 404, 'A record with the specified key values does not exist.');
    if (alternate) rest = alternate;
    const entityMatch = /^(accounts|contacts)(?:\(([0-9a-f-]{36})\))?(\/entityimage\/\$value)?$/.exec(rest);
    if (!entityMatch) return this.odataError(res, 404, `Resource not found for the segment '${rest.split('/')[0]}'.`);
    const [, set, id, image] = entityMatch as unknown as [string, string, string | undefined, string | undefined];
    const table = this.sets.get(set)!;
    const meta = ENTITY_SETS[set]!;
    if (image && id && method === 'GET') {
      if (!table.has(id)) return this.odataError(res, 404, 'Entity not found');
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(bytes);
      return;
    }
    const select = url.searchParams.get('$select')?.split(',').map((s) => s.trim());
    const shape = (e: Entity) => {
      const data = select ? Object.fromEntries(select.map((k) => [k, e.data[k] ?? null]).concat([[meta.key, e.id]])) : e.data;
      return { '@odata.etag': `W/"${e.etag}"`, ...data };
    };
    if (!id) {
      if (method === 'GET') {
        const all = [...table.values()];
        const prefer = /odata\.maxpagesize=(\d+)/.exec(String(req.headers.prefer ?? ''));
        const top = url.searchParams.get('$top');
        const pageSize = prefer ? Number(prefer[1]) : 5000;
        const limited = top ? all.slice(0, Number(top)) : all;
        const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
        const page = limited.slice(skip, skip + pageSize);
        const payload: Record<string, unknown> = { '@odata.context': `${base}$metadata#${set}`, value: page.map(shape) };
        if (skip + pageSize < limited.length) {
          const next = new URL(url.href.replace(url.origin, this.url));
          next.searchParams.set('$skiptoken', String(skip + pageSize));
          payload['@odata.nextLink'] = next.href;
        }
        const headers: Record<string, string> = prefer ? { 'preference-applied': `odata.maxpagesize=${prefer[1]}` } : {};
        return this.send(res, 200, payload, headers);
      }
      if (method === 'POST') {
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
        } catch {
          return this.odataError(res, 400, 'Invalid JSON in request body');
        }
        const entity = this.insert(set, data);
        const entityId = `${base}${set}(${entity.id})`;
        if (/return=representation/.test(String(req.headers.prefer ?? ''))) {
          return this.send(res, 201, shape(entity), { 'odata-entityid': entityId, 'preference-applied': 'return=representation' });
        }
        return this.send(res, 204, undefined, { 'odata-entityid': entityId, location: entityId });
      }
      return this.odataError(res, 405, `${method} is not supported on ${set}`);
    }
    const entity = table.get(id);
    if (!entity) return this.odataError(res, 404, `${meta.name} With Id = ${id} Does Not Exist`);
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch !== '*' && ifMatch !== `W/"${entity.etag}"`) {
      return this.odataError(res, 412, 'The version of the existing record does not match the If-Match value.');
    }
    if (method === 'GET') return this.send(res, 200, shape(entity), { etag: `W/"${entity.etag}"` });
    if (method === 'PATCH') {
      try {
        Object.assign(entity.data, JSON.parse(body.toString('utf8') || '{}'));
      } catch {
        return this.odataError(res, 400, 'Invalid JSON in request body');
      }
      entity.etag += 1;
      return this.send(res, 204, undefined, { 'odata-entityid': `${base}${set}(${id})` });
    }
    if (method === 'DELETE') {
      table.delete(id);
      return this.send(res, 204, undefined);
    }
    return this.odataError(res, 405, `${method} is not supported on ${set}(id)`);
  }
}
