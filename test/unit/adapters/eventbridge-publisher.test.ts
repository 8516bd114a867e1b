import 'aws-sdk-client-mock-vitest/extend';
import {
  EventBridgeClient,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../../functions/adapters/eventbridge-publisher.ts';
import { outcomeEventsOf } from '../../../functions/domain/outcome-events.ts';

const BUS = 'PushDeliveryOutcomes-test';

/** n events of distinct messages. */
const events = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    outcomeEventsOf(undefined, {
      messageId: `m${i}`,
      to: 'user-42',
      status: 'sending',
      createdAt: '2026-12-03T10:00:00.000Z',
      timeline: [],
    })
  ).flat();

describe('EventBridgePublisher', () => {
  const eventBridge = mockClient(EventBridgeClient);
  const publisher = new EventBridgePublisher(
    new EventBridgeClient({ region: 'us-east-1' }),
    () => BUS
  );

  afterEach(() => {
    eventBridge.reset();
  });

  it('puts the events on the bus ten at a time, source, detail-type and detail as the schema says', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(({ Entries }) => ({
      FailedEntryCount: 0,
      Entries: Entries.map((_: unknown, i: number) => ({ EventId: `e${i}` })),
    }));

    // Act
    const published = await publisher.publish(events(12));

    // Assess
    expect(published).toBe(12);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    const first = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input;
    expect(first?.Entries).toHaveLength(10);
    expect(first?.Entries?.[0]).toMatchObject({
      EventBusName: BUS,
      Source: 'push-delivery',
      DetailType: 'Message Accepted',
      Time: new Date('2026-12-03T10:00:00.000Z'),
    });
    expect(JSON.parse(first?.Entries?.[0]?.Detail ?? '{}')).toMatchObject({
      eventId: 'm0.0.accepted',
      messageId: 'm0',
    });
  });

  it('puts a refused entry again, and reports how many from the first are on the bus when one stays refused', async () => {
    // Prepare: the third entry is throttled every time; the first put also
    // refuses the second, which the next put takes.
    let call = 0;
    eventBridge.on(PutEventsCommand).callsFake(({ Entries }) => {
      call += 1;
      return {
        FailedEntryCount: 1,
        Entries: Entries.map((entry: { Detail: string }) => {
          const { messageId } = JSON.parse(entry.Detail);
          const refused =
            messageId === 'm2' || (call === 1 && messageId === 'm1');
          return refused
            ? {
                ErrorCode: 'ThrottlingException',
                ErrorMessage: 'Rate exceeded',
              }
            : { EventId: `e-${messageId}` };
        }),
      };
    });

    // Act
    const published = await publisher.publish(events(4));

    // Assess
    expect(published).toBe(2);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    const retried =
      eventBridge.commandCalls(PutEventsCommand)[1]?.args[0].input;
    expect(
      retried?.Entries?.map((e) => JSON.parse(e.Detail ?? '{}').messageId)
    ).toEqual(['m1', 'm2']);
  });

  it('lets a failed call fail the publish', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .rejects(new Error('AccessDeniedException: not authorized'));

    // Act / Assess
    await expect(publisher.publish(events(1))).rejects.toThrow(
      'not authorized'
    );
  });
});
