import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import type { OfflineStore, StoredMessage } from '../domain/ports.ts';
import { type KeyOf, TABLE_KEYS, TTL_ATTRIBUTE } from '../shared/names.ts';
import { queryPartition } from './dynamo-query.ts';

/**
 * The offline store in DynamoDB: `userId` + `storedKey` (creation time first,
 * so a query returns the oldest first). `expiresAtEpoch` is the table's TTL
 * attribute, so DynamoDB removes items whose message expired.
 */
export class DynamoOfflineStore implements OfflineStore {
  /**
   * @param db the document client
   * @param tableName the offline store table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async put(item: StoredMessage): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...item,
          [TTL_ATTRIBUTE]: Math.ceil(Date.parse(item.expiresAt) / 1000),
        },
      })
    );
  }

  async list(userId: string): Promise<StoredMessage[]> {
    const items = await queryPartition(this.db, this.tableName, {
      name: TABLE_KEYS.offline.partition,
      value: userId,
    });
    return items.map(
      ({ [TTL_ATTRIBUTE]: _ttl, ...item }) => item as unknown as StoredMessage
    );
  }

  async delete(userId: string, storedKey: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { userId, storedKey } satisfies KeyOf<'offline'>,
      })
    );
  }
}
