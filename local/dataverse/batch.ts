/**
 * `$batch` (OData 4.0 Part 1 §11.7, multipart/mixed): parts are `application/http` requests or
 * changesets (nested multipart) that succeed or fail as one — a failing request rolls the whole
 * changeset back. Within a changeset, `$<Content-ID>` names a record created by an earlier part, in
 * a request URL or an `@odata.bind` value. Request URLs may be absolute only at this environment's
 * own service root, as Dataverse resolves them. Without `Prefer: odata.continue-on-error` the batch
 * stops at the first failure, as Dataverse does.
 * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { badPayload, DataverseError } from './errors.ts';
import { errorReply, preferences, serviceRoot, type Reply, type RequestContext, type StandInRequest } from './http.ts';
import type { RecordRef } from './payload.ts';
import type { RecordStore } from './store.ts';

/** Dataverse's limit on requests in one batch. */
const MAX_OPERATIONS = 1_000;

interface Operation {
  contentId?: string;
  method: string;
  target: string;
  headers: Record<string, string>;
  body: Buffer;
}
type BatchItem = { operation: Operation } | { changeset: Operation[] };

export type Dispatch = (request: StandInRequest, context: RequestContext) => Promise<Reply>;

export async function executeBatch(
  request: StandInRequest,
  context: RequestContext,
  store: RecordStore,
  dispatch: Dispatch,
): Promise<Reply> {
  const items = parseMultipart(request.headers['content-type'] ?? '', request.body).map(parseItem);
  const operations = items.reduce((n, item) => n + ('operation' in item ? 1 : item.changeset.length), 0);
  if (operations > MAX_OPERATIONS)
    throw badPayload(`The batch contains ${operations} requests; the maximum is ${MAX_OPERATIONS}.`);
  const continueOnError = preferences(request).has('odata.continue-on-error');
  const inherited = pick(request.headers, ['mscrmcallerid', 'callerobjectid']);
  const boundary = `batchresponse_${randomUUID()}`;
  const parts: Buffer[] = [];
  for (const item of items) {
    let failed: boolean;
    if ('operation' in item) {
      const reply = await answer(() => dispatch(toRequest(item.operation, inherited, context, new Map()), context));
      parts.push(httpPart(reply));
      failed = reply.status >= 400;
    } else {
      const outcome = await runChangeset(item.changeset, inherited, context, store, dispatch);
      parts.push(outcome.part);
      failed = outcome.failed;
    }
    if (failed && !continueOnError) break;
  }
  const body = Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from(`--${boundary}\r\n`), p, Buffer.from('\r\n')])),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  const headers: Record<string, string> = {
    'content-type': `multipart/mixed; boundary=${boundary}`,
    'odata-version': '4.0',
  };
  if (continueOnError) headers['preference-applied'] = 'odata.continue-on-error';
  return { status: 200, headers, body };
}

async function runChangeset(
  operations: Operation[],
  inherited: Record<string, string>,
  context: RequestContext,
  store: RecordStore,
  dispatch: Dispatch,
): Promise<{ part: Buffer; failed: boolean }> {
  const snapshot = store.snapshot();
  const contentIds = new Map<string, RecordRef>();
  const answers: { contentId?: string; reply: Reply }[] = [];
  for (const operation of operations) {
    let reply: Reply;
    if (operation.method === 'GET') {
      reply = errorReply(badPayload('A changeset may not contain GET requests.'));
    } else if (operation.contentId && contentIds.has(operation.contentId)) {
      reply = errorReply(badPayload(`The Content-ID '${operation.contentId}' is used twice in one changeset.`));
    } else {
      reply = await answer(() =>
        dispatch(toRequest(operation, inherited, context, contentIds), { ...context, contentIds }),
      );
    }
    if (reply.status >= 400) {
      // Atomic: everything the changeset did is undone, and its answer is the failing request's.
      store.restore(snapshot);
      return { part: httpPart(reply, operation.contentId), failed: true };
    }
    const created = /\/api\/data\/v9\.2\/([A-Za-z_]\w*)\(([0-9a-f-]{36})\)$/.exec(
      reply.headers['odata-entityid'] ?? '',
    );
    if (operation.contentId && created) contentIds.set(operation.contentId, { set: created[1]!, id: created[2]! });
    answers.push({ contentId: operation.contentId, reply });
  }
  const boundary = `changesetresponse_${randomUUID()}`;
  const inner = Buffer.concat([
    ...answers.map((a) =>
      Buffer.concat([Buffer.from(`--${boundary}\r\n`), httpPart(a.reply, a.contentId), Buffer.from('\r\n')]),
    ),
    Buffer.from(`--${boundary}--`),
  ]);
  return {
    part: Buffer.concat([Buffer.from(`Content-Type: multipart/mixed; boundary=${boundary}\r\n\r\n`), inner]),
    failed: false,
  };
}

/** A part's answer; a part Dataverse cannot resolve (URL, Content-ID) gets its own error answer. */
async function answer(run: () => Promise<Reply>): Promise<Reply> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DataverseError) return errorReply(err);
    throw err;
  }
}

/** One `application/http` response part: its MIME headers, then the status line, headers and body. */
function httpPart(reply: Reply, contentId?: string): Buffer {
  const mime = `Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n${contentId ? `Content-ID: ${contentId}\r\n` : ''}\r\n`;
  const headers = Object.entries(reply.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return Buffer.concat([
    Buffer.from(`${mime}HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\n${headers}\r\n`),
    reply.body,
  ]);
}

/** A part's request, its URL resolved against the service root (`$n` against the changeset's records). */
function toRequest(
  operation: Operation,
  inherited: Record<string, string>,
  context: RequestContext,
  contentIds: Map<string, RecordRef>,
): StandInRequest {
  const root = serviceRoot(context);
  let target = operation.target;
  const reference = /^\$([^/?]+)(.*)$/.exec(target);
  if (reference) {
    const ref = contentIds.get(reference[1]!);
    if (!ref)
      throw badPayload(`The Content-ID reference '$${reference[1]}' names no earlier request of this changeset.`);
    target = `${root}${ref.set}(${ref.id})${reference[2]}`;
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    if (!target.startsWith(root))
      throw badPayload(`The URI '${target}' is not valid because it is not based on '${root}'.`);
  } else {
    target = target.startsWith('/') ? `${context.origin}${target}` : `${root}${target}`;
  }
  return {
    method: operation.method,
    url: new URL(target),
    headers: { ...inherited, ...operation.headers },
    body: operation.body,
  };
}

function parseItem(part: { headers: Record<string, string>; body: Buffer }): BatchItem {
  const type = part.headers['content-type'] ?? '';
  if (/^multipart\/mixed/i.test(type)) {
    const operations = parseMultipart(type, part.body).map((inner) => {
      if (/^multipart\//i.test(inner.headers['content-type'] ?? ''))
        throw badPayload('A changeset may not contain another changeset.');
      return parseOperation(inner);
    });
    return { changeset: operations };
  }
  return { operation: parseOperation(part) };
}

function parseOperation(part: { headers: Record<string, string>; body: Buffer }): Operation {
  if (!/^application\/http\b/i.test(part.headers['content-type'] ?? '')) {
    throw badPayload(
      `A batch part must have 'Content-Type: application/http', not '${part.headers['content-type'] ?? ''}'.`,
    );
  }
  const { head, body } = splitHead(part.body);
  const [requestLine = '', ...headerLines] = head;
  const line = /^(GET|POST|PATCH|PUT|DELETE) (\S+) HTTP\/1\.1$/.exec(requestLine);
  if (!line) throw badPayload(`The batch part's request line '${requestLine}' is not valid.`);
  if (/\$batch(\?|$)/.test(line[2]!)) throw badPayload('A batch may not contain another batch.');
  return {
    contentId: part.headers['content-id'],
    method: line[1]!,
    target: line[2]!,
    headers: parseHeaders(headerLines),
    body,
  };
}

/** Splits a multipart body (RFC 2046 §5.1) into parts with their headers; bytes pass through unchanged. */
export function parseMultipart(contentType: string, body: Buffer): { headers: Record<string, string>; body: Buffer }[] {
  const boundary = /boundary=("?)([^";]+)\1/i.exec(contentType)?.[2];
  if (!/^multipart\/mixed/i.test(contentType) || !boundary)
    throw badPayload("A batch must be 'multipart/mixed' with a boundary.");
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  let at = text.startsWith(delimiter) ? 0 : text.indexOf(`\n${delimiter}`) + 1;
  if (at <= 0 && !text.startsWith(delimiter)) throw badPayload(`The batch body has no '${delimiter}' delimiter.`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  for (;;) {
    const after = at + delimiter.length;
    if (text.startsWith('--', after)) return parts;
    const lineEnd = text.indexOf('\n', after);
    const next = lineEnd < 0 ? -1 : text.indexOf(`\n${delimiter}`, lineEnd);
    if (next < 0) throw badPayload(`The batch body does not end with '${delimiter}--'.`);
    // The line break before a delimiter belongs to the delimiter.
    const end = text[next - 1] === '\r' ? next - 1 : next;
    const raw = Buffer.from(text.slice(lineEnd + 1, Math.max(end, lineEnd + 1)), 'latin1');
    const { head, body: partBody } = splitHead(raw);
    parts.push({ headers: parseHeaders(head), body: partBody });
    at = next + 1;
  }
}

function splitHead(raw: Buffer): { head: string[]; body: Buffer } {
  const text = raw.toString('latin1');
  const match = /\r?\n\r?\n/.exec(text);
  const leading = /^\r?\n/.exec(text);
  if (leading && (!match || match.index > 0))
    return { head: [], body: Buffer.from(text.slice(leading[0].length), 'latin1') };
  if (!match) return { head: text.split(/\r?\n/).filter(Boolean), body: Buffer.alloc(0) };
  return {
    head: text.slice(0, match.index).split(/\r?\n/).filter(Boolean),
    body: Buffer.from(text.slice(match.index + match[0].length), 'latin1'),
  };
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw badPayload(`The batch header line '${line}' is not valid.`);
    headers[line.slice(0, colon).trim().toLowerCase()] = Buffer.from(line.slice(colon + 1).trim(), 'latin1').toString(
      'utf8',
    );
  }
  return headers;
}

function pick(headers: Record<string, string>, names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => headers[n] !== undefined).map((n) => [n, headers[n]!]));
}
