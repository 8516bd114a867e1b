import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type {
  OutcomeEvent,
  OutcomeEventPublisher,
} from '../../../functions/domain/outcome-events.ts';
import { createHandler } from '../../../functions/handlers/outcome-events.ts';

const record = (
  sequence: string,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>
): DynamoDBRecord => ({
  eventID: `id-${sequence}`,
  eventName: before ? 'MODIFY' : 'INSERT',
  eventSource: 'aws:dynamodb',
  dynamodb: {
    SequenceNumber: sequence,
    ...(before ? { OldImage: marshall(before) as never } : {}),
    NewImage: marshall(after) as never,
  },
});

const image = (status: string, timeline: number) => ({
  messageId: 'm1',
  to: 'user-42',
  status,
  attempts: 1,
  delivery: 1,
  createdAt: '2026-12-03T10:00:00.000Z',
  updatedAt: '2026-12-03T10:00:01.000Z',
  timeline: Array.from({ length: timeline }, () => ({
    at: '2026-12-03T10:00:00.000Z',
    event: 'pushed',
  })),
});

const records = [
  record('100', undefined, image('sending', 1)),
  record('200', image('sending', 1), image('sending', 2)),
  record('300', image('sending', 2), image('received', 2)),
  record('400', image('received', 2), image('acknowledged', 3)),
];

/** A bus that takes `capacity` events, then refuses the rest. */
const bus = (capacity = Number.POSITIVE_INFINITY) => {
  const put: OutcomeEvent[] = [];
  const publisher: OutcomeEventPublisher = {
    publish: async (events) => {
      const taken = events.slice(0, Math.max(0, capacity - put.length));
      put.push(...taken);
      return taken.length;
    },
  };
  return { put, publisher };
};

describe('the outcome events consumer of the messages stream', () => {
  it('publishes each status change in stream order, and none for a change that is no outcome', async () => {
    // Prepare
    const { put, publisher } = bus();
    const handle = createHandler({
      outcomeEvents: publisher,
      eventsIncludeContent: false,
    });

    // Act
    const answer = await handle({ Records: records });

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(put.map((e) => e.detailType)).toEqual([
      'Message Accepted',
      'Message Received',
      'Message Acknowledged',
    ]);
  });

  it('stops at the first record it cannot publish and names it, so that it and every later one come again', async () => {
    // Prepare: the bus takes the first two events only.
    const { put, publisher } = bus(2);
    const handle = createHandler({
      outcomeEvents: publisher,
      eventsIncludeContent: false,
    });

    // Act
    const answer = await handle({ Records: records });

    // Assess
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '400' }] });
    expect(put.map((e) => e.detail.status)).toEqual(['sending', 'received']);
  });

  it('names the record whose publish threw', async () => {
    // Prepare
    const handle = createHandler({
      outcomeEvents: {
        publish: async () => {
          throw new Error('AccessDeniedException');
        },
      },
      eventsIncludeContent: false,
    });

    // Act
    const answer = await handle({ Records: records });

    // Assess
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
  });
});
