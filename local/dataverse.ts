import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StandInCallers } from './dataverse/callers.ts';
import { CODES, DataverseError } from './dataverse/errors.ts';
import { FileColumns } from './dataverse/files.ts';
import { errorReply, type Reply, type RequestContext, type StandInRequest } from './dataverse/http.ts';
import { route } from './dataverse/routes.ts';
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

/**
 * A development stand-in for the Dataverse Web API (v9.2) that is at least as strict as Dataverse on
 * what the service relies on: bearer tokens must be signed by the IdP and issued for this
 * environment (`aud` = its own URL); OData query options, FetchXML, upsert, `@odata.bind`, `$batch`
 * with atomic changesets, file columns and impersonation follow Dataverse's contract (see
 * `local/dataverse/`: callers.ts checks tokens, routes.ts picks the operation). It can be told to answer the next requests with 429 + Retry-After, any status,
 * or a connection reset.
 */
export class DataverseStandIn {
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private apiServer?: Server;
  private readonly store = new RecordStore();
  private readonly files = new FileColumns(this.store);
  private readonly callers: StandInCallers;
  private scripted: { status: number; headers: Record<string, string>; body: string; reset?: boolean }[] = [];
  private delayMs = 0;
  url = '';
  /** The Web API origin when started with `apiOrigin`, else the same as `url`. */
  apiUrl = '';

  constructor(private readonly options: DataverseStandInOptions) {
    this.callers = new StandInCallers(options);
    const seed = options.seedAccounts ?? 3;
    const names = ['Contoso Ltd', 'Fabrikam Inc', 'Adventure Works', 'Northwind Traders', 'Litware Inc'];
    for (let i = 0; i < seed; i++) {
      this.insert('accounts', {
        name: names[i % names.length]! + (i >= names.length ? ` ${i}` : ''),
        revenue: 1000 * (i + 1),
      });
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
    this.callers.expireIssuedTokens();
  }

  /**
   * Answer 401 to every token of this user, as Dataverse does for a user who is no member of the
   * environment (e.g. from another tenant of a multi-tenant app), until acceptUser().
   */
  rejectUser(oid: string): void {
    this.callers.rejectUser(oid);
  }

  acceptUser(oid: string): void {
    this.callers.acceptUser(oid);
  }

  /** Adds a record directly (test set-up); columns must exist in the table's schema. */
  insert(set: string, data: Record<string, unknown>): EntityRecord {
    const schema = this.store.schema(set);
    for (const name of Object.keys(data))
      if (!schema.columns[name]) throw new Error(`${schema.logicalName} has no column ${name}`);
    return this.store.create(set, data);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', origin);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      headers: { ...req.headers },
      body,
    };
    this.requests.push(recorded);
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, this.requests.length - MAX_RECORDED);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));

    const user = await this.callers.authenticate(req.headers.authorization, this.url);
    if (!user) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer error="invalid_token", authorization_uri="${this.options.issuer}", resource_id="${this.url}"`,
      });
      res.end(
        JSON.stringify({
          error: {
            code: CODES.token,
            message: 'The access token is expired, invalid or issued for another environment.',
          },
        }),
      );
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
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
    );
    const reply = await this.dispatch(
      { method: req.method ?? 'GET', url, headers, body },
      { origin, user, caller: user },
    );
    recorded.response = { status: reply.status, headers: reply.headers, body: reply.body };
    const older = this.requests.at(-MAX_RECORDED_RESPONSES - 1);
    if (older && older !== recorded) delete older.response;
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  }

  /** Answers one request (from the socket or a `$batch` part); errors become Dataverse error bodies. */
  private async dispatch(request: StandInRequest, context: RequestContext): Promise<Reply> {
    try {
      const caller = this.callers.impersonated(context.user, request.headers);
      return await route(
        request,
        { ...context, caller },
        { store: this.store, files: this.files, dispatch: (r, c) => this.dispatch(r, c) },
      );
    } catch (err) {
      if (err instanceof DataverseError) return errorReply(err);
      throw err;
    }
  }
}
