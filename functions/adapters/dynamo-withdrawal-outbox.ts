import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Withdrawal, WithdrawalOutbox } from '../domain/ports.ts';
import { type KeyOf, TABLE_KEYS, TTL_ATTRIBUTE } from '../shared/names.ts';
import { queryPartition } from './dynamo-query.ts';

/** The one partition of the outbox: withdrawals are few (logouts). */
const QUEUE = 'withdraw';

/**
 * The withdrawal outbox in DynamoDB: partition `queue` (always `withdraw`),
 * sort key `entryKey` = `<messageId>#<pushKey>`, so a withdrawal recorded
 * twice is one entry. `expiresAtEpoch` (the table's TTL attribute) lets
 * DynamoDB drop an entry a day after the push's time_to_live ended.
 */
export class DynamoWithdrawalOutbox implements WithdrawalOutbox {
  /**
   * @param db the document client
   * @param tableName the outbox table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async put(withdrawal: Withdrawal): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          queue: QUEUE,
          entryKey: `${withdrawal.messageId}#${withdrawal.pushKey}`,
          ...withdrawal,
          [TTL_ATTRIBUTE]:
            Math.ceil(Date.parse(withdrawal.until) / 1000) + 86_400,
        },
      })
    );
  }

  async delete(messageId: string, pushKey: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: {
          queue: QUEUE,
          entryKey: `${messageId}#${pushKey}`,
        } satisfies KeyOf<'withdrawals'>,
      })
    );
  }

  async due(now: Date, limit: number): Promise<Withdrawal[]> {
    const items = await queryPartition(this.db, this.tableName, {
      name: TABLE_KEYS.withdrawals.partition,
      value: QUEUE,
    });
    return items
      .map(toWithdrawal)
      .filter((w) => Date.parse(w.nextAt) <= now.getTime())
      .sort((a, b) => a.nextAt.localeCompare(b.nextAt))
      .slice(0, limit);
  }
}

const toWithdrawal = (item: Record<string, unknown>): Withdrawal => {
  const {
    queue: _queue,
    entryKey: _entryKey,
    [TTL_ATTRIBUTE]: _ttl,
    ...rest
  } = item;
  return rest as unknown as Withdrawal;
};
