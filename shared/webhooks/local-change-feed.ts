/**
 * Local mode's stand-in for DynamoDB Streams (dynalite has none): a DynamoDB client middleware that,
 * around each successful write to one table, reads the item before and after and hands a record of
 * the stream's shape (NEW_AND_OLD_IMAGES, Lambda's JSON form) to a listener, after the write has
 * answered. Differences from a real stream: the two extra reads are not atomic with the write (a
 * concurrent write in between can merge or reorder records), and records live only in this process.
 */
import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AttributeValue as StreamAttributeValue, DynamoDBRecord } from 'aws-lambda';
import { logger } from '../observability/logger.ts';

export type ChangeListener = (record: DynamoDBRecord) => Promise<void> | void;

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
type Item = Record<string, AttributeValue>;

/** Adds the change feed to `client` for writes to `tableName` whose record passes `accept`. */
export function attachChangeFeed(
  client: DynamoDBClient,
  tableName: string,
  listener: ChangeListener,
  accept: (record: DynamoDBRecord) => boolean = () => true,
): void {
  let sequence = 0;
  const read = async (key: Item): Promise<Item | undefined> =>
    (await client.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; Key?: Item; Item?: Item };
      if (!WRITES.has(context.commandName ?? '') || input.TableName !== tableName) return next(args);
      const key = input.Key ?? (input.Item?.id ? { id: input.Item.id } : undefined);
      if (!key) return next(args);
      const before = await read(key).catch(() => undefined);
      const result = await next(args);
      const after = context.commandName === 'DeleteItemCommand' ? undefined : await read(key).catch(() => undefined);
      const record = changeRecord(key, before, after, (sequence += 1));
      if (record && accept(record)) {
        // After the write has answered, never in its way: a listener's failure is logged, not thrown.
        setImmediate(() => {
          Promise.resolve()
            .then(() => listener(record))
            .catch((err: unknown) => logger.warn('local change feed listener failed', { error: (err as Error).name }));
        });
      }
      return result;
    },
    { step: 'initialize', name: 'localChangeFeed' },
  );
}

function changeRecord(
  key: Item,
  before: Item | undefined,
  after: Item | undefined,
  sequence: number,
): DynamoDBRecord | undefined {
  if (!before && !after) return undefined;
  const oldImage = before && toStreamImage(before);
  const newImage = after && toStreamImage(after);
  // Streams record only real modifications.
  if (JSON.stringify(oldImage) === JSON.stringify(newImage)) return undefined;
  return {
    eventID: `local-${sequence}`,
    eventName: !before ? 'INSERT' : !after ? 'REMOVE' : 'MODIFY',
    eventSource: 'aws:dynamodb',
    eventVersion: '1.1',
    awsRegion: 'local',
    dynamodb: {
      ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
      Keys: toStreamImage(key),
      ...(oldImage ? { OldImage: oldImage } : {}),
      ...(newImage ? { NewImage: newImage } : {}),
      SequenceNumber: String(sequence).padStart(21, '0'),
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

/** SDK attribute values → the stream's JSON form (binary as base64), as Lambda receives them. */
function toStreamImage(item: Item): Record<string, StreamAttributeValue> {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, toStreamValue(value)]));
}

function toStreamValue(value: AttributeValue): StreamAttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.M !== undefined) return { M: toStreamImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toStreamValue) };
  return value as StreamAttributeValue;
}
