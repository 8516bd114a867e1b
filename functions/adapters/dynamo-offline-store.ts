import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { OfflineStore, StoredMessage } from '../domain/ports.ts';

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
          expiresAtEpoch: Math.ceil(Date.parse(item.expiresAt) / 1000),
        },
      })
    );
  }

  async list(userId: string): Promise<StoredMessage[]> {
    const items: StoredMessage[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'userId = :u',
          ExpressionAttributeValues: { ':u': userId },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        })
      );
      for (const raw of out.Items ?? []) {
        const { expiresAtEpoch: _ttl, ...item } = raw;
        items.push(item as StoredMessage);
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async delete(userId: string, storedKey: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { userId, storedKey },
      })
    );
  }
}
