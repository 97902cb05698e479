import { DataverseError } from './errors.ts';
import type { RecordRef } from './payload.ts';
import type { StandInUser } from './schema.ts';

/** A request as the stand-in's router sees it (from the socket or from a `$batch` part). */
export interface StandInRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RequestContext {
  /** The stand-in's own origin (`http://127.0.0.1:<port>`). */
  origin: string;
  /** The signed-in user the bearer token names. */
  user: StandInUser;
  /** Whom the request runs as: the user, or the user it impersonates. */
  caller: StandInUser;
  /** Records created earlier in the same `$batch` changeset, by Content-ID. */
  contentIds?: Map<string, RecordRef>;
}

export const API_ROOT = '/api/data/v9.2/';
const ODATA_JSON = 'application/json; odata.metadata=minimal';

export function serviceRoot(context: RequestContext): string {
  return `${context.origin}${API_ROOT}`;
}

export function jsonReply(status: number, payload: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': ODATA_JSON, 'odata-version': '4.0', ...headers },
    body: Buffer.from(JSON.stringify(payload)),
  };
}

export function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'odata-version': '4.0', ...headers }, body: Buffer.alloc(0) };
}

export function errorReply(error: DataverseError): Reply {
  return jsonReply(error.status, { error: { code: error.code, message: error.message } });
}

/** The preferences of a `Prefer` header (RFC 7240), e.g. `return`, `odata.maxpagesize`. */
export function preferences(request: StandInRequest): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of (request.headers.prefer ?? '').split(',')) {
    const [name, value] = part.split('=').map((s) => s.trim());
    if (name) found.set(name.toLowerCase(), (value ?? '').replace(/^"|"$/g, ''));
  }
  return found;
}
