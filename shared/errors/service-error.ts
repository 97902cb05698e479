import { catalogueEntry, type ErrorCode } from './catalogue.ts';

/**
 * The one error the core and the handlers throw for an answer the client should see. It carries a
 * catalogue code; status, default message and headers come from the catalogue. A detail replaces
 * the default message: it is for humans and never carries tokens, codes, cookies, secrets or
 * another system's error code.
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    super(detail ?? catalogueEntry(code).message, options);
  }

  get status(): number {
    return catalogueEntry(this.code).status;
  }

  get headers(): Readonly<Record<string, string>> {
    return catalogueEntry(this.code).headers ?? {};
  }
}

/** How an error body is shaped: the service's own, or OData's (what OData clients read on Web API paths). */
export type ErrorShape = 'service' | 'odata';

/** `{"error": code, "message": …}`, or OData's `{"error": {"code", "message"}}` (OData JSON Format 4.0 §19). */
export function errorBody(err: ServiceError, shape: ErrorShape) {
  return shape === 'odata'
    ? { error: { code: err.code, message: err.message } }
    : { error: err.code, message: err.message };
}
