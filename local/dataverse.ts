import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { executeBatch } from './dataverse/batch.ts';
import { CODES, DataverseError } from './dataverse/errors.ts';
import { FileColumns } from './dataverse/files.ts';
import { API_ROOT, errorReply, jsonReply, serviceRoot, type Reply, type RequestContext, type StandInRequest } from './dataverse/http.ts';
import {
  countRecords,
  createRecord,
  deleteRecord,
  listRecords,
  parseKey,
  readRecord,
  requireRecord,
  upsertRecord,
} from './dataverse/records.ts';
import { SEEDED_USERS, type EntitySetSchema, type StandInUser } from './dataverse/schema.ts';
import { RecordStore, type EntityRecord } from './dataverse/store.ts';

export { SEEDED_USERS as STAND_IN_USERS, type StandInUser } from './dataverse/schema.ts';

/** One request as the stand-in received it, and its answer (for tests' assertions). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The stand-in's own answer (kept for the latest requests only). */
  response?: { status: number; headers: Record<string, string>; body: Buffer };
}

export interface DataverseStandInOptions {
  /** The development IdP's issuer; bearer tokens must be signed by its JWKS and carry this `iss`. */
  issuer: string;
  /** JWKS URL of the IdP (default `${issuer}/jwks`). */
  jwksUri?: string;
  /** Accounts seeded at start (default: three). */
  seedAccounts?: number;
  /**
   * The Entra tenant the environment belongs to: a token of another tenant (`tid`) is answered
   * with 401, as Dataverse answers a user who is no member of the environment (default: any tenant).
   */
  tenantId?: string;
  /**
   * Also listen on a second origin, the environment's Web API host (Global Discovery's `ApiUrl`,
   * `<org>.api.crm.dynamics.com`): it serves the same data and, like Dataverse, takes tokens
   * issued for the environment's `Url`.
   */
  apiOrigin?: boolean;
}

/** Only the latest requests are kept, so a long load run does not grow memory; answers only for the very latest. */
const MAX_RECORDED = 1_000;
const MAX_RECORDED_RESPONSES = 20;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ENTITY_IMAGE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);

/**
 * A development stand-in for the Dataverse Web API (v9.2) that is at least as strict as Dataverse on
 * what the service relies on: bearer tokens must be signed by the IdP and issued for this
 * environment (`aud` = its own URL); OData query options, FetchXML, upsert, `@odata.bind`, `$batch`
 * with atomic changesets, file columns and impersonation follow Dataverse's contract (see
 * `local/dataverse/`). It can be told to answer the next requests with 429 + Retry-After, any status,
 * or a connection reset.
 */
export class DataverseStandIn {
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private apiServer?: Server;
  private readonly store = new RecordStore();
  private readonly files = new FileColumns(this.store);
  private readonly users: StandInUser[] = SEEDED_USERS.map((u) => ({ ...u }));
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private scripted: { status: number; headers: Record<string, string>; body: string; reset?: boolean }[] = [];
  private delayMs = 0;
  /** Tokens presented so far (by SHA-256), and those revoked by expireIssuedTokens(). */
  private readonly seenTokens = new Set<string>();
  private readonly revokedTokens = new Set<string>();
  /** Users (by `oid`) whose every token, however fresh, is answered with 401. */
  private readonly rejectedUsers = new Set<string>();
  url = '';
  /** The Web API origin when started with `apiOrigin`, else the same as `url`. */
  apiUrl = '';

  constructor(private readonly options: DataverseStandInOptions) {
    this.jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/jwks`));
    const seed = options.seedAccounts ?? 3;
    const names = ['Contoso Ltd', 'Fabrikam Inc', 'Adventure Works', 'Northwind Traders', 'Litware Inc'];
    for (let i = 0; i < seed; i++) {
      this.insert('accounts', { name: names[i % names.length] + (i >= names.length ? ` ${i}` : ''), revenue: 1000 * (i + 1) });
    }
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = await this.listen(port, host, () => this.url);
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}`;
    this.apiUrl = this.url;
    if (this.options.apiOrigin) {
      this.apiServer = await this.listen(0, host, () => this.apiUrl);
      this.apiUrl = `http://${host}:${(this.apiServer.address() as AddressInfo).port}`;
    }
    return this.url;
  }

  private async listen(port: number, host: string, origin: () => string): Promise<Server> {
    const server = createServer((req, res) => {
      this.handle(req, res, origin()).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: '0x80040216', message: 'Stand-in failure' } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    return server;
  }

  async stop(): Promise<void> {
    const servers = [this.server, this.apiServer].filter((s): s is Server => s !== undefined);
    this.server = this.apiServer = undefined;
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
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

  /** Adds a record directly (test set-up); columns must exist in the table's schema. */
  insert(set: string, data: Record<string, unknown>): EntityRecord {
    const schema = this.store.schema(set);
    for (const name of Object.keys(data)) if (!schema.columns[name]) throw new Error(`${schema.logicalName} has no column ${name}`);
    return this.store.create(set, data);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', origin);
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.search, headers: { ...req.headers }, body };
    this.requests.push(recorded);
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, this.requests.length - MAX_RECORDED);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));

    const user = await this.authenticate(req.headers.authorization);
    if (!user) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer error="invalid_token", authorization_uri="${this.options.issuer}", resource_id="${this.url}"`,
      });
      res.end(JSON.stringify({ error: { code: CODES.token, message: 'The access token is expired, invalid or issued for another environment.' } }));
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
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const reply = await this.dispatch({ method: req.method ?? 'GET', url, headers, body }, { origin, user, caller: user });
    recorded.response = { status: reply.status, headers: reply.headers, body: reply.body };
    const older = this.requests.at(-MAX_RECORDED_RESPONSES - 1);
    if (older && older !== recorded) delete older.response;
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  }

  /**
   * The user a token names. Dataverse accepts only tokens issued for this environment: `aud` must be
   * its own URL (Entra sets it from the scope `<environment>/user_impersonation`).
   */
  private async authenticate(authorization: string | undefined): Promise<StandInUser | undefined> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.jwks, { issuer: this.options.issuer, audience: this.url });
      const id = createHash('sha256').update(token).digest('base64url');
      if (this.revokedTokens.has(id)) return undefined;
      if (typeof payload.oid === 'string' && this.rejectedUsers.has(payload.oid)) return undefined;
      if (this.options.tenantId && payload.tid !== this.options.tenantId) return undefined;
      this.seenTokens.add(id);
      return this.userFor(String(payload.oid ?? payload.sub ?? ''), String(payload.name ?? ''));
    } catch {
      return undefined;
    }
  }

  /** The systemuser of an Entra object id; a user seen for the first time is provisioned without roles. */
  private userFor(objectId: string, name: string): StandInUser {
    const known = this.users.find((u) => u.azureactivedirectoryobjectid === objectId.toLowerCase());
    if (known) return known;
    const user = { systemuserid: randomUUID(), azureactivedirectoryobjectid: objectId.toLowerCase(), fullname: name, canImpersonate: false };
    this.users.push(user);
    return user;
  }

  /**
   * Impersonation: `MSCRMCallerID` (systemuserid) or `CallerObjectId` (Entra object id) make the
   * request run as another user, if the caller holds prvActOnBehalfOfAnotherUser (403 otherwise).
   * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
   */
  private impersonated(user: StandInUser, headers: Record<string, string>): StandInUser {
    const byUserId = headers.mscrmcallerid;
    const byObjectId = headers.callerobjectid;
    if (!byUserId && !byObjectId) return user;
    if (!user.canImpersonate) {
      throw new DataverseError(
        403,
        CODES.privilege,
        `Principal user (Id=${user.systemuserid}, type=8) is missing prvActOnBehalfOfAnotherUser privilege (Id=a2cabd5f-6f4b-4f52-8a50-1e4e0b5d3a9c).`,
      );
    }
    const id = (byUserId ?? byObjectId)!;
    if (!GUID.test(id)) throw new DataverseError(400, CODES.argument, `'${id}' is not a valid user id for impersonation.`);
    const target = byUserId
      ? this.users.find((u) => u.systemuserid === id.toLowerCase())
      : this.users.find((u) => u.azureactivedirectoryobjectid === id.toLowerCase());
    if (!target) throw new DataverseError(404, CODES.notFound, `systemuser With Id = ${id.toLowerCase()} Does Not Exist`);
    return target;
  }

  /** Answers one request (from the socket or a `$batch` part); errors become Dataverse error bodies. */
  private async dispatch(request: StandInRequest, context: RequestContext): Promise<Reply> {
    try {
      return await this.route(request, { ...context, caller: this.impersonated(context.user, request.headers) });
    } catch (err) {
      if (err instanceof DataverseError) return errorReply(err);
      throw err;
    }
  }

  private async route(request: StandInRequest, context: RequestContext): Promise<Reply> {
    const { method } = request;
    const path = request.url.pathname;
    if (!path.startsWith(API_ROOT)) throw new DataverseError(404, CODES.query, 'Resource not found for the segment.');
    const [first = '', ...rest] = path.slice(API_ROOT.length).split('/');
    const notAllowed = () => new DataverseError(405, CODES.query, `The HTTP method '${method}' is not allowed on '${path}'.`);
    if (first === '$batch' && rest.length === 0) {
      if (method !== 'POST') throw notAllowed();
      return executeBatch(request, context, this.store, (r, c) => this.dispatch(r, c));
    }
    if (/^WhoAmI(\(\))?$/.test(first) && rest.length === 0) {
      if (method !== 'GET') throw notAllowed();
      return this.whoAmI(context);
    }
    const segment = /^([A-Za-z_]\w*)(?:\((.*)\))?$/.exec(first);
    if (!segment) throw new DataverseError(404, CODES.query, `Resource not found for the segment '${first}'.`);
    const schema = this.store.schema(segment[1]!);
    if (segment[2] === undefined) {
      if (rest.length === 0 && method === 'GET') return listRecords(this.store, schema, request, context);
      if (rest.length === 0 && method === 'POST') return createRecord(this.store, schema, request, context);
      if (rest.length === 1 && rest[0] === '$count' && method === 'GET') return countRecords(this.store, schema, request);
      if (rest.length === 0) throw notAllowed();
      throw new DataverseError(404, CODES.query, `Resource not found for the segment '${rest[0]}'.`);
    }
    const key = parseKey(segment[2], schema);
    if (rest.length === 0) {
      if (method === 'GET') return readRecord(this.store, schema, key, request, context);
      if (method === 'PATCH') return upsertRecord(this.store, schema, key, request, context);
      if (method === 'DELETE') return deleteRecord(this.store, schema, key, request);
      throw notAllowed();
    }
    return this.routeRecordPart(requireRecord(this.store, schema, key), schema, rest, request, context);
  }

  /** `set(id)/<part>`: a file column, the entity image, a collection-valued navigation property or one column. */
  private routeRecordPart(record: EntityRecord, schema: EntitySetSchema, rest: string[], request: StandInRequest, context: RequestContext): Reply {
    const { method } = request;
    const [property = '', value, ...more] = rest;
    const column = schema.columns[property];
    const collection = schema.collections[property];
    const notAllowed = () => new DataverseError(405, CODES.query, `The HTTP method '${method}' is not allowed on '${request.url.pathname}'.`);
    if (more.length > 0 || (value !== undefined && value !== '$value')) {
      throw new DataverseError(404, CODES.query, `Resource not found for the segment '${rest.join('/')}'.`);
    }
    if (column?.type === 'file') {
      if (value === '$value' && method === 'GET') return this.files.download(schema, record, property, request);
      if (value === undefined && method === 'GET') return this.files.download(schema, record, property, request, context);
      if (value === undefined && method === 'PATCH') return this.files.upload(schema, record, property, request, context);
      if (value === undefined && method === 'DELETE') return this.files.remove(schema, record, property);
      throw notAllowed();
    }
    if (column?.type === 'image' && value === '$value' && method === 'GET') {
      return { status: 200, headers: { 'content-type': 'image/png' }, body: ENTITY_IMAGE };
    }
    if (collection && value === undefined) {
      const target = this.store.schema(collection.set);
      if (method === 'POST') return createRecord(this.store, target, request, context, { column: collection.column, id: record.id });
      if (method === 'GET') return listRecords(this.store, target, request, context, (r) => r.data[collection.column] === record.id);
      throw notAllowed();
    }
    if (column && value === undefined && method === 'GET') {
      return jsonReply(200, { '@odata.context': `${serviceRoot(context)}$metadata#${schema.set}(${record.id})/${property}`, value: record.data[property] ?? null });
    }
    throw new DataverseError(404, CODES.query, `Resource not found for the segment '${property}'.`);
  }

  /** WhoAmI: the (possibly impersonated) user, with the environment's business unit and organization. */
  private whoAmI(context: RequestContext): Reply {
    return jsonReply(200, {
      '@odata.context': `${serviceRoot(context)}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`,
      BusinessUnitId: '00000000-0000-0000-0000-00000000b001',
      UserId: context.caller.systemuserid,
      OrganizationId: '00000000-0000-0000-0000-00000000a001',
    });
  }
}
