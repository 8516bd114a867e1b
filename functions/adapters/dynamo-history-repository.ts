import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { InvalidCursorError } from '../domain/errors.ts';
import type {
  HistoryEntry,
  HistoryPage,
  HistoryRepository,
} from '../domain/ports.ts';
import {
  DEFAULT_RETENTION_DAYS,
  type KeyOf,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from '../shared/names.ts';
import { retainedUntil } from './dynamo-message-repository.ts';

/**
 * History in DynamoDB: `userId` + `sortKey` (`${createdAt}#${messageId}`),
 * read backwards for newest first. The cursor is the last sort key of a
 * page, base64url-encoded with the user id so it cannot be replayed against
 * another user's history. An entry is kept for the retention after its
 * message's life ends (`expiresAtEpoch`, the table's TTL attribute), which
 * is when the message ends at the latest.
 */
export class DynamoHistoryRepository implements HistoryRepository {
  /**
   * @param db the document client
   * @param tableName the history table
   * @param retentionDays days an entry is kept after its message's life
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays = DEFAULT_RETENTION_DAYS
  ) {}

  async add(entry: HistoryEntry): Promise<void> {
    const { messageExpiresAt, ...line } = entry;
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...line,
          [TABLE_KEYS.history.sort]: sortKeyOf(entry),
          ...(messageExpiresAt === undefined
            ? {}
            : {
                [TTL_ATTRIBUTE]: retainedUntil(
                  messageExpiresAt,
                  this.retentionDays
                ),
              }),
        },
      })
    );
  }

  async delete(
    entry: Pick<HistoryEntry, 'userId' | 'messageId' | 'createdAt'>
  ): Promise<boolean> {
    const { Attributes } = await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: {
          userId: entry.userId,
          sortKey: sortKeyOf(entry),
        } satisfies KeyOf<'history'>,
        ReturnValues: 'ALL_OLD',
      })
    );
    return Attributes !== undefined;
  }

  async page(
    userId: string,
    limit: number,
    cursor?: string
  ): Promise<HistoryPage> {
    const start =
      cursor === undefined ? undefined : decodeCursor(cursor, userId);
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: `${TABLE_KEYS.history.partition} = :u`,
        ExpressionAttributeValues: { ':u': userId },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: start,
      })
    );
    const entries = (out.Items ?? []).map(
      ({ [TABLE_KEYS.history.sort]: _sk, [TTL_ATTRIBUTE]: _ttl, ...entry }) =>
        entry as HistoryEntry
    );
    const last = out.LastEvaluatedKey;
    return {
      entries,
      ...(last
        ? {
            nextCursor: encodeCursor(
              userId,
              String(last[TABLE_KEYS.history.sort])
            ),
          }
        : {}),
    };
  }
}

/** The sort key of an entry: its message's creation time, then its id. */
const sortKeyOf = (entry: Pick<HistoryEntry, 'messageId' | 'createdAt'>) =>
  `${entry.createdAt}#${entry.messageId}`;

const encodeCursor = (userId: string, sortKey: string): string =>
  Buffer.from(JSON.stringify({ u: userId, k: sortKey })).toString('base64url');

const decodeCursor = (
  cursor: string,
  userId: string
): Record<string, string> => {
  try {
    const parsed: unknown = JSON.parse(
      Buffer.from(cursor, 'base64url').toString('utf8')
    );
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'u' in parsed &&
      'k' in parsed &&
      parsed.u === userId &&
      typeof parsed.k === 'string' &&
      // A sort key of this table: `${createdAt}#${messageId}`, far below
      // DynamoDB's 1 KB limit for a sort key.
      /^\d{4}-\d\d-\d\dT[\d:.]+Z#[0-9A-Za-z_-]{1,64}$/.test(parsed.k)
    ) {
      return { userId, sortKey: parsed.k } satisfies KeyOf<'history'>;
    }
  } catch {
    // fall through: not base64url JSON
  }
  throw new InvalidCursorError(
    'cursor is not valid: pass the nextCursor of the previous page unchanged'
  );
};
