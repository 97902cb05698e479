import { randomUUID } from 'node:crypto';
import { DataverseError, CODES } from './errors.ts';
import { ENTITY_SETS, type EntitySetSchema } from './schema.ts';

/** One row: its id, its row version (Dataverse's `versionnumber`, the ETag) and its columns. */
export interface EntityRecord {
  id: string;
  version: number;
  data: Record<string, unknown>;
}

/** The content of a file column. */
export interface StoredFile {
  name: string;
  mimetype: string;
  bytes: Buffer;
}

interface Snapshot {
  tables: [string, [string, EntityRecord][]][];
  files: [string, StoredFile][];
  version: number;
}

/** The stand-in's data: tables by entity set and file columns' content, with snapshots for transactions. */
export class RecordStore {
  private tables = new Map<string, Map<string, EntityRecord>>();
  private files = new Map<string, StoredFile>();
  private version = 1_000;

  constructor() {
    for (const set of Object.keys(ENTITY_SETS)) this.tables.set(set, new Map());
  }

  schema(set: string): EntitySetSchema {
    const schema = ENTITY_SETS[set];
    if (!schema) throw new DataverseError(404, CODES.query, `Resource not found for the segment '${set}'.`);
    return schema;
  }

  all(set: string): EntityRecord[] {
    return [...this.table(set).values()];
  }

  get(set: string, id: string): EntityRecord | undefined {
    return this.table(set).get(id.toLowerCase());
  }

  /** The record whose alternate key `column` equals `value` (Dataverse compares text case-insensitively). */
  findByKey(set: string, column: string, value: string): EntityRecord | undefined {
    const wanted = value.toLowerCase();
    return this.all(set).find((r) => typeof r.data[column] === 'string' && r.data[column].toLowerCase() === wanted);
  }

  /** Must be called with an existing record (or throws 404 in Dataverse's words). */
  require(set: string, id: string): EntityRecord {
    const record = this.get(set, id);
    if (!record)
      throw new DataverseError(404, CODES.notFound, `${this.schema(set).logicalName} With Id = ${id} Does Not Exist`);
    return record;
  }

  create(set: string, columns: Record<string, unknown>, createdBy?: string, id: string = randomUUID()): EntityRecord {
    const schema = this.schema(set);
    const key = id.toLowerCase();
    if (this.table(set).has(key))
      throw new DataverseError(412, CODES.duplicate, 'A record with matching key values already exists.');
    const now = new Date().toISOString();
    const record: EntityRecord = { id: key, version: this.nextVersion(), data: {} };
    record.data = {
      ...columns,
      [schema.key]: key,
      createdon: now,
      modifiedon: now,
      _createdby_value: createdBy ?? null,
    };
    this.computeColumns(set, record);
    record.data.versionnumber = record.version;
    this.table(set).set(key, record);
    return record;
  }

  update(set: string, record: EntityRecord, columns: Record<string, unknown>): void {
    Object.assign(record.data, columns, { modifiedon: new Date().toISOString() });
    record.version = this.nextVersion();
    record.data.versionnumber = record.version;
    this.computeColumns(set, record);
  }

  delete(set: string, id: string): void {
    this.table(set).delete(id.toLowerCase());
    for (const key of [...this.files.keys()]) if (key.startsWith(`${set}/${id}/`)) this.files.delete(key);
  }

  file(set: string, id: string, column: string): StoredFile | undefined {
    return this.files.get(`${set}/${id}/${column}`);
  }

  /** Stores a file column's content; the column itself holds the file's id and its name, as in Dataverse. */
  putFile(set: string, record: EntityRecord, column: string, file: StoredFile): void {
    this.files.set(`${set}/${record.id}/${column}`, file);
    this.update(set, record, { [column]: randomUUID(), [`${column}_name`]: file.name });
  }

  deleteFile(set: string, record: EntityRecord, column: string): void {
    this.files.delete(`${set}/${record.id}/${column}`);
    this.update(set, record, { [column]: null, [`${column}_name`]: null });
  }

  /** A copy of everything, for a changeset to roll back to. */
  snapshot(): Snapshot {
    return {
      tables: [...this.tables].map(([set, rows]) => [
        set,
        [...rows].map(([id, r]) => [id, { ...r, data: { ...r.data } }]),
      ]),
      files: [...this.files],
      version: this.version,
    };
  }

  restore(snapshot: Snapshot): void {
    this.tables = new Map(snapshot.tables.map(([set, rows]) => [set, new Map(rows)]));
    this.files = new Map(snapshot.files);
    // Row versions keep increasing after a rollback, as SQL rowversion does.
  }

  private table(set: string): Map<string, EntityRecord> {
    const table = this.tables.get(set);
    if (!table) throw new DataverseError(404, CODES.query, `Resource not found for the segment '${set}'.`);
    return table;
  }

  private nextVersion(): number {
    this.version += 1;
    return this.version;
  }

  private computeColumns(set: string, record: EntityRecord): void {
    if (set === 'contacts') {
      const name = [record.data.firstname, record.data.lastname].filter((p) => typeof p === 'string' && p).join(' ');
      record.data.fullname = name || null;
    }
  }
}
