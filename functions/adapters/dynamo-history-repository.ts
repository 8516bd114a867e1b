import {
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
import { type KeyOf, TABLE_KEYS } from '../shared/names.ts';

/**
 * History in DynamoDB: `userId` + `sortKey` (`${createdAt}#${messageId}`),
 * read backwards for newest first. The cursor is the last sort key of a
 * page, base64url-encoded with the user id so it cannot be replayed against
 * another user's history.
 */
export class DynamoHistoryRepository implements HistoryRepository {
  /**
   * @param db the document client
   * @param tableName the history table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async add(entry: HistoryEntry): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...entry,
          [TABLE_KEYS.history.sort]: `${entry.createdAt}#${entry.messageId}`,
        },
      })
    );
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
      ({ [TABLE_KEYS.history.sort]: _sk, ...entry }) => entry as HistoryEntry
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
