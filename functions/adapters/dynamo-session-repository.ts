import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  DeviceOwner,
  DeviceRepository,
  Session,
  SessionRepository,
} from '../domain/ports.ts';
import { type KeyOf, TABLE_KEYS } from '../shared/names.ts';
import { queryPartition } from './dynamo-query.ts';

/** Sessions in DynamoDB: `userId` + `registrationId`. */
export class DynamoSessionRepository implements SessionRepository {
  /**
   * @param db the document client
   * @param tableName the sessions table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async listByUser(userId: string): Promise<Session[]> {
    return (await queryPartition(this.db, this.tableName, {
      name: TABLE_KEYS.sessions.partition,
      value: userId,
    })) as unknown as Session[];
  }

  async put(session: Session): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.tableName, Item: session })
    );
  }

  async delete(userId: string, registrationId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { userId, registrationId } satisfies KeyOf<'sessions'>,
      })
    );
  }
}

/** Device owners in DynamoDB, keyed by `registrationId`. */
export class DynamoDeviceRepository implements DeviceRepository {
  /**
   * @param db the document client
   * @param tableName the devices table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async get(registrationId: string): Promise<DeviceOwner | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { registrationId } satisfies KeyOf<'devices'>,
        ConsistentRead: true,
      })
    );
    return Item as DeviceOwner | undefined;
  }

  async put(owner: DeviceOwner): Promise<DeviceOwner | undefined> {
    const { Attributes } = await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: owner,
        ReturnValues: 'ALL_OLD',
      })
    );
    return Attributes as DeviceOwner | undefined;
  }

  async deleteIfOwner(registrationId: string, userId: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { registrationId } satisfies KeyOf<'devices'>,
          ConditionExpression: 'userId = :u',
          ExpressionAttributeValues: { ':u': userId },
        })
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
