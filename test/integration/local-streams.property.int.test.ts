import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startDynalite } from '../../local/dynamo.ts';
import { type StreamConsumer, startStreams } from '../../local/streams.ts';

// Local mode's DynamoDB Streams (local/streams.ts) under concurrent writes
// and a consumer that fails: random groups of writes (put, update, delete,
// a conditional put that may be refused, a two-item batch write) are sent
// at once through the proxy in front of dynalite, while the consumer's
// answers follow a random plan (take the batch, report one record failed,
// throw). What Lambda's poller promises, and the outcome events rely on:
// - each item's records chain: a record's old image is the one before's
//   new image, the first has none, the last's new image is the item;
// - the consumer is given every record, in order, each batch starting at
//   the first record not yet taken, and takes each record once;
// - a record is dropped only after it has failed 1 + MaximumRetryAttempts
//   times, and the records after it still come.
// Replay a failure with FC_SEED=<seed> (printed at the end of a run).
const NUM_RUNS = Number(process.env.FC_RUNS) || 30;
const KEYS = ['a', 'b', 'c'] as const;

type Write =
  | { kind: 'put'; key: number; value: number }
  | { kind: 'update'; key: number }
  | { kind: 'delete'; key: number }
  | { kind: 'putIfAbsent'; key: number; value: number }
  | { kind: 'batch'; put: number; remove: number; value: number };

/** How the consumer answers one batch. */
type Answer =
  | { kind: 'take' }
  | { kind: 'fail'; at: number }
  | { kind: 'throw' };

const key = fc.nat({ max: KEYS.length - 1 });
const value = fc.nat({ max: 99 });
const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key, value }),
  fc.record({ kind: fc.constant('update' as const), key }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('putIfAbsent' as const), key, value }),
  fc
    .record({
      kind: fc.constant('batch' as const),
      put: key,
      remove: key,
      value,
    })
    .filter((w) => w.put !== w.remove)
);
const answer: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'take' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fail' as const),
      at: fc.nat({ max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'throw' as const }) }
);
const scenario = fc.record({
  // Each group is sent at once; the groups one after another.
  groups: fc.array(fc.array(write, { minLength: 1, maxLength: 6 }), {
    minLength: 1,
    maxLength: 5,
  }),
  plan: fc.array(answer, { maxLength: 30 }),
  batchSize: fc.integer({ min: 1, max: 4 }),
  maxRetryAttempts: fc.integer({ min: 0, max: 2 }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

const s = (text: string): AttributeValue => ({ S: text });
const n = (num: number): AttributeValue => ({ N: String(num) });
const seqOf = (record: DynamoDBRecord) =>
  Number(record.dynamodb?.SequenceNumber);

let dynamo: LocalDynamo;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo?.close();
});

/** Runs one scenario; returns what broke a promise (empty when none). */
const runScenario = async (sc: Scenario): Promise<string[]> => {
  tables += 1;
  const tableName = `streams-${tables}`;
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    })
  );
  const consumer: StreamConsumer = {
    tableName,
    functionId: 'Consumer',
    entry: 'consumer',
    batchSize: sc.batchSize,
    maxRetryAttempts: sc.maxRetryAttempts,
  };
  const plan = [...sc.plan];
  const deliveries: { seqs: number[]; answer: Answer; taken: number[] }[] = [];
  const streams = await startStreams({
    dynamoEndpoint: dynamo.endpoint,
    tables: [{ tableName, keys: ['id'] }],
    consumers: [consumer],
    retryDelayMs: 1,
    onBatchError: () => {},
    handlerFor:
      () =>
      async ({ Records }): Promise<DynamoDBBatchResponse | undefined> => {
        const seqs = Records.map(seqOf);
        const next = plan.shift() ?? { kind: 'take' as const };
        if (next.kind === 'throw') {
          deliveries.push({ seqs, answer: next, taken: [] });
          throw new Error('the consumer failed');
        }
        if (next.kind === 'fail') {
          const at = next.at % Records.length;
          deliveries.push({ seqs, answer: next, taken: seqs.slice(0, at) });
          return {
            batchItemFailures: [
              {
                itemIdentifier: Records[at]?.dynamodb?.SequenceNumber ?? '',
              },
            ],
          };
        }
        deliveries.push({ seqs, answer: next, taken: seqs });
        return undefined;
      },
  });
  const records: DynamoDBRecord[] = [];
  const unsubscribe = streams.subscribe((table, record) => {
    if (table === tableName) records.push(record);
  });
  const id = (k: number) => ({ id: s(KEYS[k] as string) });
  const send = async (w: Write) => {
    const client = streams.client;
    switch (w.kind) {
      case 'put':
        return client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { ...id(w.key), v: n(w.value) },
          })
        );
      case 'update':
        return client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: id(w.key),
            UpdateExpression: 'SET c = if_not_exists(c, :zero) + :one',
            ExpressionAttributeValues: { ':zero': n(0), ':one': n(1) },
          })
        );
      case 'delete':
        return client.send(
          new DeleteItemCommand({ TableName: tableName, Key: id(w.key) })
        );
      case 'putIfAbsent':
        return client
          .send(
            new PutItemCommand({
              TableName: tableName,
              Item: { ...id(w.key), v: n(w.value), first: s('yes') },
              ConditionExpression: 'attribute_not_exists(id)',
            })
          )
          .catch((error: unknown) => {
            // Refused when the item exists: no write, so no record.
            if ((error as Error).name !== 'ConditionalCheckFailedException') {
              throw error;
            }
          });
      case 'batch':
        return client.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [tableName]: [
                {
                  PutRequest: {
                    Item: { ...id(w.put), v: n(w.value), batch: s('yes') },
                  },
                },
                { DeleteRequest: { Key: id(w.remove) } },
              ],
            },
          })
        );
    }
  };
  const problems: string[] = [];
  try {
    for (const group of sc.groups) await Promise.all(group.map(send));
    await streams.idle();

    // Each item's records chain, and end at the item as it is.
    const seqs = records.map(seqOf);
    if (seqs.some((q, i) => i > 0 && q <= (seqs[i - 1] as number))) {
      problems.push(`sequence numbers not increasing: ${seqs.join(',')}`);
    }
    for (const [k, name] of KEYS.entries()) {
      const mine = records.filter((r) => r.dynamodb?.Keys?.id?.S === name);
      let before: unknown;
      for (const r of mine) {
        const old = r.dynamodb?.OldImage;
        const now = r.dynamodb?.NewImage;
        if (JSON.stringify(old) !== JSON.stringify(before)) {
          problems.push(
            `${name} #${seqOf(r)}: old image ${JSON.stringify(old)}, the item before it was ${JSON.stringify(before)}`
          );
        }
        const expected = !old ? 'INSERT' : !now ? 'REMOVE' : 'MODIFY';
        if (r.eventName !== expected) {
          problems.push(
            `${name} #${seqOf(r)}: ${r.eventName}, not ${expected}`
          );
        }
        before = now;
      }
      const { Item } = await dynamo.client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: id(k),
          ConsistentRead: true,
        })
      );
      if (JSON.stringify(Item) !== JSON.stringify(before)) {
        problems.push(
          `${name}: the last record's image ${JSON.stringify(before)}, the item ${JSON.stringify(Item)}`
        );
      }
    }

    // Every record reaches the consumer in order, taken once or dropped.
    const taken = deliveries.flatMap((d) => d.taken);
    const dropped = streams.dropped.map((d) => seqOf(d.record));
    const settled = [...taken, ...dropped].sort((x, y) => x - y);
    if (JSON.stringify(settled) !== JSON.stringify(seqs)) {
      problems.push(
        `taken ${taken.join(',')} and dropped ${dropped.join(',')} are not the records ${seqs.join(',')}, each once`
      );
    }
    if (taken.some((q, i) => i > 0 && q <= (taken[i - 1] as number))) {
      problems.push(`taken out of order: ${taken.join(',')}`);
    }
    // Each batch starts at the first record neither taken nor dropped, and
    // a record is dropped after exactly 1 + MaximumRetryAttempts failures.
    const done = new Set<number>();
    const failures = new Map<number, number>();
    const droppedSet = new Set(dropped);
    for (const d of deliveries) {
      // (Shorter than the batch size when later records were not written
      // yet as it was made.)
      const pending = seqs.filter((q) => !done.has(q));
      const expected = pending.slice(0, d.seqs.length);
      if (
        d.seqs.length > sc.batchSize ||
        JSON.stringify(d.seqs) !== JSON.stringify(expected)
      ) {
        problems.push(
          `a batch of ${d.seqs.join(',')}, where the records not yet taken began ${expected.join(',')}`
        );
        break;
      }
      for (const q of d.taken) done.add(q);
      if (d.taken.length === d.seqs.length) continue;
      const failed = d.seqs[d.taken.length] as number;
      const count = (failures.get(failed) ?? 0) + 1;
      failures.set(failed, count);
      if (count > sc.maxRetryAttempts) {
        if (!droppedSet.has(failed)) {
          problems.push(
            `#${failed} failed ${count} times and was not dropped (retries ${sc.maxRetryAttempts})`
          );
        }
        done.add(failed);
      }
    }
    for (const q of dropped) {
      if (failures.get(q) !== sc.maxRetryAttempts + 1) {
        problems.push(
          `#${q} dropped after ${failures.get(q) ?? 0} failures, not ${sc.maxRetryAttempts + 1}`
        );
      }
    }
  } finally {
    unsubscribe();
    await streams.close();
  }
  return problems;
};

describe('local DynamoDB Streams under concurrent writes and a failing consumer (dynalite over HTTP)', () => {
  it('chains every item’s images, and gives the consumer every record in order, once, or drops it after its retries', async () => {
    // Prepare: printed, so a green run can be repeated too.
    const seed = Number(process.env.FC_SEED) || Date.now() % 2 ** 31;
    let runs = 0;
    let records = 0;

    // Act
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        runs += 1;
        records += sc.groups.flat().length;
        const problems = await runScenario(sc);
        if (problems.length > 0) throw new Error(problems.join('\n'));
      }),
      { numRuns: NUM_RUNS, seed }
    );
    console.info(
      `local streams: ${runs} runs, ${records} writes (seed ${seed})`
    );

    // Assess: fc.assert threw, with the seed and path, on a broken promise.
    expect(runs).toBe(NUM_RUNS);
  }, 300_000);
});

describe('local DynamoDB Streams: what a writer gets back', () => {
  it('answers every write as dynalite does, whichever ReturnValues it asks for, condition failures included', async () => {
    // Prepare: the same writes, one after another, to dynalite directly and
    // through the streams' proxy, on two fresh tables.
    const make = async (name: string) => {
      await dynamo.client.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        })
      );
    };
    tables += 1;
    const direct = `answers-direct-${tables}`;
    const proxied = `answers-proxied-${tables}`;
    await make(direct);
    await make(proxied);
    const streams = await startStreams({
      dynamoEndpoint: dynamo.endpoint,
      tables: [{ tableName: proxied, keys: ['id'] }],
      consumers: [],
      handlerFor: () => async () => undefined,
    });
    const k = { id: s('a') };
    const writes = (TableName: string) => [
      new PutItemCommand({ TableName, Item: { ...k, v: n(1) } }),
      new PutItemCommand({
        TableName,
        Item: { ...k, v: n(2) },
        ReturnValues: 'ALL_OLD',
      }),
      new UpdateItemCommand({
        TableName,
        Key: k,
        UpdateExpression: 'SET v = v + :one',
        ExpressionAttributeValues: { ':one': n(1) },
      }),
      new UpdateItemCommand({
        TableName,
        Key: k,
        UpdateExpression: 'SET w = :w',
        ExpressionAttributeValues: { ':w': s('x') },
        ReturnValues: 'ALL_NEW',
      }),
      new UpdateItemCommand({
        TableName,
        Key: k,
        UpdateExpression: 'SET v = v + :one',
        ExpressionAttributeValues: { ':one': n(1) },
        ReturnValues: 'ALL_OLD',
      }),
      new UpdateItemCommand({
        TableName,
        Key: k,
        UpdateExpression: 'SET v = v + :one',
        ExpressionAttributeValues: { ':one': n(1) },
        ReturnValues: 'UPDATED_NEW',
      }),
      new PutItemCommand({
        TableName,
        Item: { ...k, v: n(9) },
        ConditionExpression: 'attribute_not_exists(id)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      new DeleteItemCommand({ TableName, Key: k, ReturnValues: 'ALL_OLD' }),
      new DeleteItemCommand({ TableName, Key: k }),
    ];
    const answersOf = async (
      client: typeof dynamo.client,
      TableName: string
    ) => {
      const answers: unknown[] = [];
      for (const command of writes(TableName)) {
        answers.push(
          await client
            .send(command as PutItemCommand)
            .then(({ $metadata: _, ...rest }) => rest)
            .catch((error: Error & { Item?: unknown }) => ({
              error: error.name,
              item: error.Item,
            }))
        );
      }
      return answers;
    };

    // Act
    const expected = await answersOf(dynamo.client, direct);
    const records: DynamoDBRecord[] = [];
    streams.subscribe((_, record) => records.push(record));
    let got: unknown[];
    try {
      got = await answersOf(streams.client, proxied);
      await streams.idle();
    } finally {
      await streams.close();
    }

    // Assess: the same answers, and a record for each write that changed
    // the item (the refused put made none).
    expect(got).toEqual(expected);
    expect(records.map((r) => r.eventName)).toEqual([
      'INSERT',
      'MODIFY',
      'MODIFY',
      'MODIFY',
      'MODIFY',
      'MODIFY',
      'REMOVE',
    ]);
  });
});
