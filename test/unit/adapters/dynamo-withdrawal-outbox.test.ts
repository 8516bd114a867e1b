import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoWithdrawalOutbox } from '../../../functions/adapters/dynamo-withdrawal-outbox.ts';
import type { Withdrawal } from '../../../functions/domain/ports.ts';

describe('DynamoWithdrawalOutbox', () => {
  const TABLE = 'WithdrawalsTable-test';
  const db = mockClient(DynamoDBDocumentClient);
  const outbox = new DynamoWithdrawalOutbox(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    TABLE
  );
  /** An entry of the outbox. */
  const entry = (pushKey: string, nextAt: string): Withdrawal => ({
    messageId: 'm1',
    pushKey,
    why: 'user_42 logged out of device 1a0018970a9c2ce5b0',
    registrationId: '1a0018970a9c2ce5b0',
    tries: 1,
    nextAt,
    until: '2026-11-27T09:00:00.000Z',
  });

  afterEach(() => {
    db.reset();
  });

  it('keeps one item per push, which DynamoDB drops a day after its time to live', async () => {
    // Prepare
    db.on(PutCommand).resolves({});
    const withdrawal = entry('1.1', '2026-11-27T08:00:02.000Z');

    // Act
    await outbox.put(withdrawal);

    // Assess
    expect(db).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        queue: 'withdraw',
        entryKey: 'm1#1.1',
        ...withdrawal,
        expiresAtEpoch: Date.parse('2026-11-28T09:00:00.000Z') / 1000,
      },
    });
  });

  it('deletes an entry by message and push', async () => {
    // Prepare
    db.on(DeleteCommand).resolves({});

    // Act
    await outbox.delete('m1', '1.2');

    // Assess
    expect(db).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE,
      Key: { queue: 'withdraw', entryKey: 'm1#1.2' },
    });
  });

  it('answers the due entries, the oldest first, at most the limit, as they were put', async () => {
    // Prepare
    const item = (w: Withdrawal) => ({
      queue: 'withdraw',
      entryKey: `${w.messageId}#${w.pushKey}`,
      ...w,
      expiresAtEpoch: 1,
    });
    const later = entry('1.1', '2026-11-27T08:00:09.000Z');
    const first = entry('1.2', '2026-11-27T08:00:01.000Z');
    const second = entry('1.3', '2026-11-27T08:00:04.000Z');
    const third = entry('1.4', '2026-11-27T08:00:05.000Z');
    db.on(QueryCommand)
      .resolvesOnce({
        Items: [item(later), item(second)],
        LastEvaluatedKey: { queue: 'withdraw', entryKey: 'm1#1.3' },
      })
      .resolvesOnce({ Items: [item(third), item(first)] });

    // Act
    const due = await outbox.due(new Date('2026-11-27T08:00:05.000Z'), 2);

    // Assess
    expect(due).toEqual([first, second]);
    expect(db).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(db).toHaveReceivedCommandWith(QueryCommand, {
      TableName: TABLE,
      ExpressionAttributeValues: { ':pk': 'withdraw' },
      ConsistentRead: true,
    });
  });
});
