/**
 * File columns (Dataverse's file column API): a single PATCH with the whole file, or chunked upload
 * (PATCH with `x-ms-transfer-mode: chunked` opens a session; PATCH each chunk to the returned
 * `Location` with `Content-Range`), and download of the whole file or of a `Range`.
 * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data
 */
import { randomBytes } from 'node:crypto';
import { badArgument, DataverseError, CODES } from './errors.ts';
import { emptyReply, jsonReply, serviceRoot, type Reply, type RequestContext, type StandInRequest } from './http.ts';
import type { EntitySetSchema } from './schema.ts';
import type { EntityRecord, RecordStore } from './store.ts';

/** Dataverse's chunk size (4 MB): no chunk may be larger. */
export const CHUNK_SIZE = 4 * 1024 * 1024;
/** Largest file a single request may carry (128 MB in Dataverse). */
const MAX_SINGLE_UPLOAD = 128 * 1024 * 1024;

interface UploadSession {
  set: string;
  id: string;
  column: string;
  fileName: string;
  chunks: Buffer[];
  received: number;
  total?: number;
}

const MIME_TYPES: Record<string, string> = {
  txt: 'text/plain',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  json: 'application/json',
  csv: 'text/csv',
  zip: 'application/zip',
};

export class FileColumns {
  private readonly sessions = new Map<string, UploadSession>();

  constructor(private readonly store: RecordStore) {}

  /** PATCH `set(id)/column`: open a chunked session, upload a chunk to one, or upload the whole file. */
  upload(
    schema: EntitySetSchema,
    record: EntityRecord,
    column: string,
    request: StandInRequest,
    context: RequestContext,
  ): Reply {
    const token = request.url.searchParams.get('sessiontoken');
    if (token !== null) return this.uploadChunk(token, schema, record, column, request);
    const fileName = requireFileName(request);
    if (request.headers['x-ms-transfer-mode'] === 'chunked') {
      if (request.body.length > 0) throw badArgument('The request that starts a chunked upload carries no content.');
      const sessionToken = randomBytes(24).toString('base64url');
      this.sessions.set(sessionToken, { set: schema.set, id: record.id, column, fileName, chunks: [], received: 0 });
      const location = `${serviceRoot(context)}${schema.set}(${record.id})/${column}?sessiontoken=${encodeURIComponent(sessionToken)}`;
      return emptyReply(200, {
        location,
        'x-ms-chunk-size': String(CHUNK_SIZE),
        'accept-ranges': 'bytes',
        'access-control-expose-headers': 'x-ms-chunk-size, Location',
      });
    }
    requireOctetStream(request);
    if (request.body.length > MAX_SINGLE_UPLOAD)
      throw badArgument('The file is larger than a single request may carry; upload it in chunks.');
    this.store.putFile(schema.set, record, column, {
      name: fileName,
      mimetype: mimeTypeOf(fileName),
      bytes: request.body,
    });
    return emptyReply(204);
  }

  private uploadChunk(
    token: string,
    schema: EntitySetSchema,
    record: EntityRecord,
    column: string,
    request: StandInRequest,
  ): Reply {
    const session = this.sessions.get(token);
    if (!session || session.set !== schema.set || session.id !== record.id || session.column !== column) {
      throw badArgument('The upload session token is not valid for this record and column.');
    }
    requireOctetStream(request);
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(request.headers['content-range'] ?? '');
    if (!range) throw badArgument("A chunk needs a 'Content-Range: bytes <first>-<last>/<total>' header.");
    const [first, last, total] = [Number(range[1]), Number(range[2]), Number(range[3])];
    if (first !== session.received)
      throw badArgument(`The chunk starts at byte ${first}, but ${session.received} bytes were received so far.`);
    if (last < first || last >= total || last - first + 1 !== request.body.length) {
      throw badArgument('The Content-Range does not match the chunk that was sent.');
    }
    if (request.body.length > CHUNK_SIZE)
      throw badArgument(`A chunk may carry at most ${CHUNK_SIZE} bytes (x-ms-chunk-size).`);
    if (session.total !== undefined && session.total !== total)
      throw badArgument('The total size changed between chunks.');
    session.total = total;
    session.chunks.push(request.body);
    session.received += request.body.length;
    if (session.received < total) return emptyReply(206);
    this.sessions.delete(token);
    const bytes = Buffer.concat(session.chunks);
    this.store.putFile(schema.set, record, column, {
      name: session.fileName,
      mimetype: mimeTypeOf(session.fileName),
      bytes,
    });
    return emptyReply(204);
  }

  /**
   * GET `set(id)/column/$value`: the whole file, or the requested byte range with 206. GET
   * `set(id)/column` answers the same bytes base64-encoded in a JSON `value` (the form some clients use).
   */
  download(
    schema: EntitySetSchema,
    record: EntityRecord,
    column: string,
    request: StandInRequest,
    context?: RequestContext,
  ): Reply {
    const file = this.store.file(schema.set, record.id, column);
    if (!file)
      throw new DataverseError(
        404,
        CODES.notFound,
        `No file attachment found for attribute: ${column} EntityId: ${record.id}.`,
      );
    const headers = {
      'content-type': 'application/octet-stream',
      'x-ms-file-name': file.name,
      'x-ms-file-size': String(file.bytes.length),
      'x-ms-chunk-size': String(CHUNK_SIZE),
      mimetype: file.mimetype,
      'content-disposition': `attachment; filename="${file.name.replace(/["\\\r\n]/g, '_')}"`,
      'access-control-expose-headers': 'x-ms-file-name, x-ms-file-size, x-ms-chunk-size, mimetype',
    };
    const shape = (status: number, bytes: Buffer, extra: Record<string, string> = {}): Reply =>
      context
        ? jsonReply(
            status,
            {
              '@odata.context': `${serviceRoot(context)}$metadata#${schema.set}(${record.id})/${column}`,
              value: bytes.toString('base64'),
            },
            { ...headers, ...extra, 'content-type': 'application/json; odata.metadata=minimal' },
          )
        : { status, headers: { ...headers, ...extra, 'odata-version': '4.0' }, body: bytes };
    const rangeHeader = request.headers.range;
    if (rangeHeader === undefined) return shape(200, file.bytes);
    const range = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader);
    const first = Number(range?.[1]);
    const last = range?.[2] ? Math.min(Number(range[2]), file.bytes.length - 1) : file.bytes.length - 1;
    if (!range || first >= file.bytes.length || last < first) {
      return { status: 416, headers: { 'content-range': `bytes */${file.bytes.length}` }, body: Buffer.alloc(0) };
    }
    return shape(206, file.bytes.subarray(first, last + 1), {
      'content-range': `bytes ${first}-${last}/${file.bytes.length}`,
    });
  }

  remove(schema: EntitySetSchema, record: EntityRecord, column: string): Reply {
    if (!this.store.file(schema.set, record.id, column))
      throw new DataverseError(
        404,
        CODES.notFound,
        `No file attachment found for attribute: ${column} EntityId: ${record.id}.`,
      );
    this.store.deleteFile(schema.set, record, column);
    return emptyReply(204);
  }
}

/** The file's name: the `x-ms-file-name` header, or the query parameter of that name some clients send. */
function requireFileName(request: StandInRequest): string {
  const name = request.headers['x-ms-file-name'] || request.url.searchParams.get('x-ms-file-name');
  if (!name) throw badArgument("A file upload needs the 'x-ms-file-name' header.");
  return name;
}

function requireOctetStream(request: StandInRequest): void {
  if ((request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() !== 'application/octet-stream') {
    throw badArgument("File content must be sent with 'Content-Type: application/octet-stream'.");
  }
}

function mimeTypeOf(fileName: string): string {
  return MIME_TYPES[fileName.split('.').at(-1)?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}
