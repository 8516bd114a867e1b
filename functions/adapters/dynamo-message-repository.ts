import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Message, TERMINAL_STATUSES } from '../domain/message.ts';
import type { MessageRepository, MessageUpdate } from '../domain/ports.ts';
import {
  DEFAULT_RETENTION_DAYS,
  type KeyOf,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from '../shared/names.ts';

const DAY_SECONDS = 86_400;

/** Epoch seconds `days` after an ISO time or a Date. */
export const retainedUntil = (end: string | Date, days: number): number =>
  Math.ceil(new Date(end).getTime() / 1000) + days * DAY_SECONDS;

/**
 * Messages in DynamoDB, one item per message keyed by `messageId`.
 *
 * Retention: `expiresAtEpoch` (the table's TTL attribute) is set when the
 * message is created to the end of its life plus the retention (when it
 * ends at the latest, e.g. never delivered from the offline store), and
 * again, earlier, by the update that ends it (a terminal status) to that
 * moment plus the retention. DynamoDB deletes the item after that time
 * (within about two days).
 */
export class DynamoMessageRepository implements MessageRepository {
  /**
   * @param db the document client
   * @param tableName the messages table
   * @param retentionDays days a message is kept after it ends
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays = DEFAULT_RETENTION_DAYS
  ) {}

  async create(message: Message): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...message,
            [TTL_ATTRIBUTE]: retainedUntil(
              message.expiresAt,
              this.retentionDays
            ),
          },
          ConditionExpression: `attribute_not_exists(${TABLE_KEYS.messages.partition})`,
        })
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async get(messageId: string): Promise<Message | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { messageId } satisfies KeyOf<'messages'>,
        ConsistentRead: true,
      })
    );
    return withoutTtl(Item);
  }

  async getFields<K extends keyof Message>(
    messageId: string,
    fields: readonly K[]
  ): Promise<Pick<Message, K> | undefined> {
    const names = Object.fromEntries(
      fields.map((field, i) => [`#p${i}`, field])
    );
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { messageId } satisfies KeyOf<'messages'>,
        ConsistentRead: true,
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
      })
    );
    return Item as Pick<Message, K> | undefined;
  }

  async delete(messageId: string): Promise<boolean> {
    const { Attributes } = await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { messageId } satisfies KeyOf<'messages'>,
        ReturnValues: 'ALL_OLD',
      })
    );
    return Attributes !== undefined;
  }

  async getMany(messageIds: readonly string[]): Promise<Message[]> {
    const found: Message[] = [];
    for (let i = 0; i < messageIds.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = messageIds
        .slice(i, i + 100)
        .map((messageId) => ({ messageId }));
      for (let round = 0; keys && keys.length > 0 && round < 5; round++) {
        const out: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys } },
          })
        );
        found.push(
          ...(out.Responses?.[this.tableName] ?? []).flatMap(
            (item) => withoutTtl(item) ?? []
          )
        );
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  async update(
    messageId: string,
    update: MessageUpdate
  ): Promise<Message | undefined> {
    const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = {
      ':updatedAt': new Date().toISOString(),
    };
    const sets = ['#updatedAt = :updatedAt'];
    for (const [field, value] of Object.entries(update.set ?? {})) {
      names[`#f_${field}`] = field;
      values[`:f_${field}`] = value;
      sets.push(`#f_${field} = :f_${field}`);
    }
    if (update.set?.status && TERMINAL_STATUSES.includes(update.set.status)) {
      // The message ends now: it is kept for the retention from here.
      names['#ttl'] = TTL_ATTRIBUTE;
      values[':ttl'] = retainedUntil(new Date(), this.retentionDays);
      sets.push('#ttl = :ttl');
    }
    (update.putInMap ?? []).forEach((entry, i) => {
      names[`#m${i}`] = entry.map;
      names[`#k${i}`] = entry.key;
      values[`:v${i}`] = entry.value;
      const path = `#m${i}.#k${i}`;
      sets.push(`${path} = :v${i}`);
    });
    if (update.pushAnswer) {
      const { key, state, jpushMsgId } = update.pushAnswer;
      names['#pa'] = 'pushes';
      names['#paKey'] = key;
      names['#paState'] = 'state';
      values[':paState'] = state;
      sets.push('#pa.#paKey.#paState = :paState');
      if (jpushMsgId !== undefined) {
        names['#paMsgId'] = 'jpushMsgId';
        values[':paMsgId'] = jpushMsgId;
        sets.push('#pa.#paKey.#paMsgId = :paMsgId');
      }
    }
    const removes = (update.removeFromMap ?? []).map((entry, i) => {
      names[`#rm${i}`] = entry.map;
      names[`#rk${i}`] = entry.key;
      return `#rm${i}.#rk${i}`;
    });
    if (update.timeline && update.timeline.length > 0) {
      names['#timeline'] = 'timeline';
      values[':timeline'] = update.timeline;
      values[':none'] = [];
      sets.push(
        '#timeline = list_append(if_not_exists(#timeline, :none), :timeline)'
      );
    }

    const conditions = [`attribute_exists(${TABLE_KEYS.messages.partition})`];
    const when = update.when ?? {};
    if (when.statusIn) {
      names['#status'] = 'status';
      const list = when.statusIn.map((status, i) => {
        values[`:s${i}`] = status;
        return `:s${i}`;
      });
      conditions.push(`#status IN (${list.join(', ')})`);
    }
    if (when.delivery !== undefined) {
      names['#delivery'] = 'delivery';
      values[':delivery'] = when.delivery;
      conditions.push('#delivery = :delivery');
    }
    if (when.notAcked) conditions.push('attribute_not_exists(ackedAt)');
    if (when.attemptsAtMost !== undefined) {
      names['#attempts'] = 'attempts';
      values[':attemptsAtMost'] = when.attemptsAtMost;
      conditions.push('#attempts <= :attemptsAtMost');
    }
    if (when.pushAbsent !== undefined) {
      names['#pushes'] = 'pushes';
      names['#pushKey'] = when.pushAbsent;
      conditions.push('attribute_not_exists(#pushes.#pushKey)');
    }
    if (when.pushCount !== undefined) {
      names['#pushes'] = 'pushes';
      values[':pushCount'] = when.pushCount;
      conditions.push('size(#pushes) = :pushCount');
    }

    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { messageId } satisfies KeyOf<'messages'>,
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        })
      );
      return withoutTtl(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

/** The message an item holds, without the table's TTL attribute. */
const withoutTtl = (
  item: Record<string, unknown> | undefined
): Message | undefined => {
  if (!item) return undefined;
  const { [TTL_ATTRIBUTE]: _ttl, ...message } = item;
  return message as unknown as Message;
};
