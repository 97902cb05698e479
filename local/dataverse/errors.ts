/** Dataverse's error body: `{"error": {"code": "0x…", "message": "…"}}` with its HTTP status. */
export class DataverseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The codes Dataverse answers with for the cases the stand-in reproduces. */
export const CODES = {
  /** OData query or URL the service cannot understand (unknown property, bad syntax, unknown segment). */
  query: '0x80060888',
  /** Request body the service cannot read (bad JSON, unknown property, wrong type, bad bind). */
  payload: '0x80048d19',
  /** The record does not exist. */
  notFound: '0x80040217',
  /** `If-None-Match: *` on a record that exists. */
  duplicate: '0x80040237',
  /** `If-Match` with a stale version. */
  concurrency: '0x80060882',
  /** Missing privilege (e.g. prvActOnBehalfOfAnotherUser for impersonation). */
  privilege: '0x80040220',
  /** Invalid argument (FetchXML, file column requests). */
  argument: '0x80040203',
  /** Bearer token missing, expired, badly signed or for another environment. */
  token: '0x80072182',
  /** Something the stand-in does not implement (never silently accepted). */
  unsupported: '0x8004d218',
} as const;

export const badQuery = (message: string) => new DataverseError(400, CODES.query, message);
export const badPayload = (message: string) => new DataverseError(400, CODES.payload, message);
export const badArgument = (message: string) => new DataverseError(400, CODES.argument, message);
export const notImplemented = (message: string) =>
  new DataverseError(501, CODES.unsupported, `The stand-in does not implement ${message}.`);
