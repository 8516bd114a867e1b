import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../functions/adapters/eventbridge-publisher.ts';
import {
  createHandler,
  outcomeEventsOfRecord,
} from '../../functions/handlers/outcome-events.ts';
import {
  FAKE_CREDENTIALS,
  LOCAL_REGION,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import { startStreams } from '../../local/streams.ts';

// The outcome events under an EventBridge that throttles and fails: status
// changes of a few messages are written at once through local mode's
// DynamoDB Streams (local/streams.ts in front of dynalite), which feeds
// them to the outcome-events handler with its real EventBridgePublisher
// and the AWS SDK's EventBridge client, over HTTP to a PutEvents endpoint
// that follows a random plan per call: answer, throttle the call (400
// ThrottlingException, which the SDK retries), fail it (500), or refuse
// some entries (200 with FailedEntryCount, which the publisher puts again).
// The promises, as a rule on the bus would see them:
// - every outcome event of every change is on the bus, none lost, and a
//   record is never dropped by the stream;
// - an event that comes again has the same eventId and the same detail;
// - no event of a message's change is on the bus before every event of
//   that message's earlier changes.
// Replay a failure with FC_SEED=<seed> (printed at the end of a run).
const NUM_RUNS = Number(process.env.FC_RUNS) || 12;
const BUS = 'PushDeliveryOutcomes-test';
const LIFE = ['sending', 'received', 'acknowledged'] as const;

type Answer = 'ok' | 'throttle' | 'fail' | 'refuse-some';
const answer = fc.constantFrom<Answer>(
  'ok',
  'ok',
  'throttle',
  'fail',
  'refuse-some'
);
const scenario = fc.record({
  messages: fc.integer({ min: 1, max: 4 }),
  /** The endpoint's answers, call by call; then it answers. */
  plan: fc.array(answer, { maxLength: 25 }),
  /** Which entries a refusing answer refuses (bit i: entry i). */
  refuseMask: fc.integer({ min: 1, max: 7 }),
  batchSize: fc.integer({ min: 1, max: 5 }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/** What reached the bus, in the order it was taken. */
interface OnBus {
  readonly eventId: string;
  readonly messageId: string;
  readonly detail: string;
}

/** A PutEvents endpoint (AWS JSON 1.1) that answers as its plan says. */
const startEventBridge = async () => {
  let plan: Answer[] = [];
  let refuseMask = 0;
  const taken: OnBus[] = [];
  const calls: Answer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        Entries: { Detail: string; EventBusName: string }[];
      };
      const next = plan.shift() ?? 'ok';
      calls.push(next);
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomUUID(),
        });
        res.end(JSON.stringify(json));
      };
      if (next === 'throttle') {
        reply(400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
        return;
      }
      if (next === 'fail') {
        reply(500, {
          __type: 'InternalException',
          message: 'An internal error occurred',
        });
        return;
      }
      const entries = body.Entries.map((entry, i) => {
        if (next === 'refuse-some' && refuseMask & (1 << i)) {
          return {
            ErrorCode: 'ThrottlingException',
            ErrorMessage: 'Rate exceeded',
          };
        }
        if (entry.EventBusName !== BUS) {
          return { ErrorCode: 'NotAuthorized', ErrorMessage: 'wrong bus' };
        }
        const detail = JSON.parse(entry.Detail) as {
          eventId: string;
          messageId: string;
        };
        taken.push({
          eventId: detail.eventId,
          messageId: detail.messageId,
          detail: entry.Detail,
        });
        return { EventId: randomUUID() };
      });
      reply(200, {
        FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length,
        Entries: entries,
      });
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve())
  );
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    taken,
    calls,
    reset(next: Answer[], mask: number) {
      plan = [...next];
      refuseMask = mask;
      taken.length = 0;
      calls.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

let dynamo: LocalDynamo;
let bus: Awaited<ReturnType<typeof startEventBridge>>;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  bus = await startEventBridge();
});
afterAll(async () => {
  await bus?.close();
  await dynamo?.close();
});

/** A message's item after `step` changes (timeline entries grow). */
const itemOf = (messageId: string, step: number) => ({
  messageId,
  to: `user-${messageId}`,
  status: LIFE[Math.min(step, LIFE.length - 1)],
  attempts: 1,
  delivery: 1,
  createdAt: '2026-12-03T10:00:00.000Z',
  updatedAt: `2026-12-03T10:00:0${step}.000Z`,
  timeline: Array.from({ length: step + 1 }, (_, i) => ({
    at: `2026-12-03T10:00:0${i}.000Z`,
    event: 'pushed',
  })),
});

const runScenario = async (sc: Scenario): Promise<string[]> => {
  tables += 1;
  const tableName = `messages-${tables}`;
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: 'messageId', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'messageId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    })
  );
  bus.reset(sc.plan, sc.refuseMask);
  const events = new EventBridgeClient({
    endpoint: bus.endpoint,
    region: LOCAL_REGION,
    credentials: FAKE_CREDENTIALS,
  });
  const handle = createHandler({
    outcomeEvents: new EventBridgePublisher(events, () => BUS),
    eventsIncludeContent: false,
  });
  const streams = await startStreams({
    dynamoEndpoint: dynamo.endpoint,
    tables: [{ tableName, keys: ['messageId'] }],
    consumers: [
      {
        tableName,
        functionId: 'OutcomeEvents',
        entry: 'functions/handlers/outcome-events.ts',
        batchSize: sc.batchSize,
        // As the template's mapping: retried for as long as a day.
        maxRetryAttempts: 10_000,
      },
    ],
    retryDelayMs: 1,
    handlerFor: () => handle,
  });
  const records: DynamoDBRecord[] = [];
  const unsubscribe = streams.subscribe((table, record) => {
    if (table === tableName) records.push(record);
  });
  const problems: string[] = [];
  try {
    const ids = Array.from(
      { length: sc.messages },
      (_, i) => `m${tables}-${i}`
    );
    // Each message's changes in order; the messages at once.
    await Promise.all(
      ids.map(async (messageId) => {
        for (let step = 0; step < LIFE.length; step++) {
          await streams.client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: marshall(itemOf(messageId, step)),
            })
          );
        }
      })
    );
    await streams.idle();

    if (streams.dropped.length > 0) {
      problems.push(`${streams.dropped.length} records dropped`);
    }
    // Every event of every change is on the bus.
    const expected = records.map((r) => outcomeEventsOfRecord(r));
    const firstAt = new Map<string, number>();
    const detailOf = new Map<string, string>();
    bus.taken.forEach((e, i) => {
      if (!firstAt.has(e.eventId)) firstAt.set(e.eventId, i);
      const seen = detailOf.get(e.eventId);
      if (seen !== undefined && seen !== e.detail) {
        problems.push(`${e.eventId} came again with another detail`);
      }
      detailOf.set(e.eventId, e.detail);
    });
    for (const event of expected.flat()) {
      if (!firstAt.has(event.detail.eventId)) {
        problems.push(`${event.detail.eventId} is not on the bus`);
      }
    }
    // No change's event before every event of the message's earlier ones.
    for (const messageId of ids) {
      const changes = expected.filter(
        (list) => list[0]?.detail.messageId === messageId
      );
      for (let i = 1; i < changes.length; i++) {
        const earlierLast = Math.max(
          ...(changes.slice(0, i).flat() ?? []).map(
            (e) => firstAt.get(e.detail.eventId) ?? Number.POSITIVE_INFINITY
          )
        );
        const first = Math.min(
          ...(changes[i] ?? []).map(
            (e) => firstAt.get(e.detail.eventId) ?? Number.POSITIVE_INFINITY
          )
        );
        if (first < earlierLast) {
          problems.push(
            `${messageId}: change ${i} reached the bus before an event of an earlier change`
          );
        }
      }
    }
  } finally {
    unsubscribe();
    await streams.close();
    events.destroy();
  }
  return problems;
};

describe('outcome events under an EventBridge that throttles, fails and refuses entries (local streams, dynalite, SDK over HTTP)', () => {
  it('puts every event on the bus, an event again only with its own id and detail, and no change before the message’s earlier ones', async () => {
    // Prepare: printed, so a green run can be repeated too.
    const seed = Number(process.env.FC_SEED) || Date.now() % 2 ** 31;
    let runs = 0;
    let faults = 0;
    let calls = 0;

    // Act
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        runs += 1;
        const problems = await runScenario(sc);
        calls += bus.calls.length;
        faults += bus.calls.filter((c) => c !== 'ok').length;
        if (problems.length > 0) throw new Error(problems.join('\n'));
      }),
      { numRuns: NUM_RUNS, seed }
    );
    console.info(
      `outcome events under faults: ${runs} runs, ${calls} PutEvents calls, ${faults} of them faulty (seed ${seed})`
    );

    // Assess: fc.assert threw, with the seed and path, on a broken promise.
    expect(runs).toBe(NUM_RUNS);
    expect(faults).toBeGreaterThan(0);
  }, 300_000);
});
