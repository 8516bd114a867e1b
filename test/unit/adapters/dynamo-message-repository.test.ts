import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoMessageRepository } from '../../../functions/adapters/dynamo-message-repository.ts';
import type { Message, PushRecord } from '../../../functions/domain/message.ts';

const TABLE = 'MessagesTable-test';
const db = mockClient(DynamoDBDocumentClient);
const repository = new DynamoMessageRepository(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  TABLE
);

const message: Message = {
  messageId: 'm1',
  to: 'user_42',
  body: 'hi',
  policy: {
    intervalSeconds: 60,
    maxAttempts: 3,
    expiresInSeconds: 86_400,
    confirmBy: 'ack',
  },
  escalationOnCall: true,
  escalationSmsTo: '',
  smsText: 'hi',
  status: 'sending',
  attempts: 0,
  delivery: 1,
  createdAt: '2026-11-27T08:00:00.000Z',
  updatedAt: '2026-11-27T08:00:00.000Z',
  expiresAt: '2026-11-28T08:00:00.000Z',
  timeline: [],
  pushes: {},
  deliveredTo: {},
  notified: {},
};

/** Attempt 2's push, recorded before JPush is called. */
const pendingPush: PushRecord = {
  attempt: 2,
  delivery: 1,
  state: 'pending',
  cid: '8103a4c628a0b98974ec1949-cid-2',
  registrationIds: ['rid1'],
  platforms: ['android'],
  ttlSeconds: 86_340,
  at: '2026-11-27T08:01:00.000Z',
};

const conditionFailed = () =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
  });

afterEach(() => {
  db.reset();
});

describe('DynamoMessageRepository', () => {
  it('creates a message only when its id is new', async () => {
    // Prepare
    db.on(PutCommand).resolves({});

    // Act
    const created = await repository.create(message);

    // Assess: kept 30 days (the default) after its life ends at the latest.
    expect(created).toBe(true);
    expect(db).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        ...message,
        expiresAtEpoch: Date.parse('2026-12-28T08:00:00.000Z') / 1000,
      },
      ConditionExpression: 'attribute_not_exists(messageId)',
    });
  });

  it('answers false when a message with the id exists', async () => {
    // Prepare
    db.on(PutCommand).rejects(conditionFailed());

    // Act
    const created = await repository.create(message);

    // Assess
    expect(created).toBe(false);
  });

  it('lets other errors of create propagate', async () => {
    // Prepare
    db.on(PutCommand).rejects(
      new ProvisionedThroughputExceededException({
        message: 'slow down',
        $metadata: {},
      })
    );

    // Act
    const create = repository.create(message);

    // Assess
    await expect(create).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException
    );
  });

  it('reads a message with a consistent read', async () => {
    // Prepare
    db.on(GetCommand).resolves({ Item: message });

    // Act
    const found = await repository.get('m1');

    // Assess
    expect(found).toEqual(message);
    expect(db).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { messageId: 'm1' },
      ConsistentRead: true,
    });
  });

  it('answers undefined when an update condition does not hold', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const updated = await repository.update('m1', {
      set: { status: 'acknowledged' },
      when: { statusIn: ['sending'] },
    });

    // Assess
    expect(updated).toBeUndefined();
  });

  it('lets other errors of update propagate', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(new Error('network down'));

    // Act
    const update = repository.update('m1', { set: { attempts: 1 } });

    // Assess
    await expect(update).rejects.toThrow('network down');
  });

  it('builds one conditional update for a push attempt', async () => {
    // Prepare
    const after = { ...message, attempts: 2 };
    db.on(UpdateCommand).resolves({ Attributes: after });
    const event = { at: '2026-11-27T08:01:00.000Z', event: 'pushed' } as const;

    // Act
    const updated = await repository.update('m1', {
      set: { attempts: 2, taskToken: 'token-2' },
      putInMap: [
        { map: 'pushes', key: '1.2', value: pendingPush },
        { map: 'deliveredTo', key: 'rid1', value: '2026-11-27T08:01:00Z' },
      ],
      timeline: [event],
      when: {
        statusIn: ['sending', 'received'],
        delivery: 1,
        notAcked: true,
        pushAbsent: '1.2',
      },
    });

    // Assess
    expect(updated).toEqual(after);
    expect(db).toHaveReceivedCommandTimes(UpdateCommand, 1);
    const input = db.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: TABLE,
      Key: { messageId: 'm1' },
      ReturnValues: 'ALL_NEW',
      UpdateExpression:
        'SET #updatedAt = :updatedAt, #f_attempts = :f_attempts, #f_taskToken = :f_taskToken, ' +
        '#m0.#k0 = :v0, #m1.#k1 = :v1, ' +
        '#timeline = list_append(if_not_exists(#timeline, :none), :timeline)',
      ConditionExpression:
        'attribute_exists(messageId) AND #status IN (:s0, :s1) AND #delivery = :delivery ' +
        'AND attribute_not_exists(ackedAt) AND attribute_not_exists(#pushes.#pushKey)',
      ExpressionAttributeNames: {
        '#updatedAt': 'updatedAt',
        '#f_attempts': 'attempts',
        '#f_taskToken': 'taskToken',
        '#m0': 'pushes',
        '#k0': '1.2',
        '#m1': 'deliveredTo',
        '#k1': 'rid1',
        '#timeline': 'timeline',
        '#status': 'status',
        '#delivery': 'delivery',
        '#pushes': 'pushes',
        '#pushKey': '1.2',
      },
      ExpressionAttributeValues: {
        ':updatedAt': expect.any(String),
        ':f_attempts': 2,
        ':f_taskToken': 'token-2',
        ':v0': pendingPush,
        ':v1': '2026-11-27T08:01:00Z',
        ':timeline': [event],
        ':none': [],
        ':s0': 'sending',
        ':s1': 'received',
        ':delivery': 1,
      },
    });
  });

  it('removes map entries in the same update (a withdrawn device loses its delivery mark)', async () => {
    // Prepare
    db.on(UpdateCommand).resolves({ Attributes: message });

    // Act
    await repository.update('m1', {
      putInMap: [
        { map: 'notified', key: 'onCall', value: '2026-11-27T08:03:00Z' },
      ],
      removeFromMap: [{ map: 'deliveredTo', key: 'rid1' }],
    });

    // Assess
    const input = db.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      UpdateExpression:
        'SET #updatedAt = :updatedAt, #m0.#k0 = :v0 REMOVE #rm0.#rk0',
      ExpressionAttributeNames: {
        '#updatedAt': 'updatedAt',
        '#m0': 'notified',
        '#k0': 'onCall',
        '#rm0': 'deliveredTo',
        '#rk0': 'rid1',
      },
      ExpressionAttributeValues: {
        ':updatedAt': expect.any(String),
        ':v0': '2026-11-27T08:03:00Z',
      },
    });
  });

  it('keeps an ended message the retention from the update that ends it, and no other update moves it', async () => {
    // Prepare
    vi.useFakeTimers({ now: Date.parse('2026-11-27T09:00:00.000Z') });
    const sevenDays = new DynamoMessageRepository(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      TABLE,
      7
    );
    db.on(UpdateCommand).resolves({
      Attributes: { ...message, expiresAtEpoch: 1 },
    });

    try {
      // Act
      const ended = await sevenDays.update('m1', {
        set: { status: 'acknowledged', ackedAt: '2026-11-27T09:00:00.000Z' },
      });
      await sevenDays.update('m1', { set: { status: 'received' } });

      // Assess
      const [end, other] = db
        .commandCalls(UpdateCommand)
        .map((c) => c.args[0].input);
      expect(end?.UpdateExpression).toContain('#ttl = :ttl');
      expect(end?.ExpressionAttributeNames?.['#ttl']).toBe('expiresAtEpoch');
      expect(end?.ExpressionAttributeValues?.[':ttl']).toBe(
        Date.parse('2026-12-04T09:00:00.000Z') / 1000
      );
      expect(other?.UpdateExpression).not.toContain('#ttl');
      expect(ended).toEqual(message);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads only the attributes asked for, and leaves the TTL attribute out of a message', async () => {
    // Prepare
    db.on(GetCommand).resolves({ Item: { status: 'sending', delivery: 1 } });

    // Act
    const found = await repository.getFields('m1', ['status', 'delivery']);

    // Assess
    expect(found).toEqual({ status: 'sending', delivery: 1 });
    expect(db).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { messageId: 'm1' },
      ConsistentRead: true,
      ProjectionExpression: '#p0, #p1',
      ExpressionAttributeNames: { '#p0': 'status', '#p1': 'delivery' },
    });
  });

  it('erases a message, telling whether there was one', async () => {
    // Prepare
    db.on(DeleteCommand).resolvesOnce({ Attributes: message }).resolvesOnce({});

    // Act
    const first = await repository.delete('m1');
    const again = await repository.delete('m1');

    // Assess
    expect([first, again]).toEqual([true, false]);
    expect(db).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE,
      Key: { messageId: 'm1' },
    });
  });

  it('only requires the item to exist for an unconditional update', async () => {
    // Prepare
    db.on(UpdateCommand).resolves({ Attributes: message });

    // Act
    await repository.update('m1', {
      timeline: [{ at: '2026-11-27T08:01:00.000Z', event: 'report' }],
    });

    // Assess
    expect(db).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_exists(messageId)',
    });
  });
});
