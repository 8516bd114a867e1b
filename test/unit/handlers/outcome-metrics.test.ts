import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createHandler,
  outcomeMetricsOf,
} from '../../../functions/handlers/outcome-metrics.ts';
import type { AppDeps } from '../../../functions/shared/deps.ts';
import { metrics } from '../../../functions/shared/powertools.ts';

const record = (
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
  sequence = '1'
): DynamoDBRecord => ({
  eventID: sequence,
  eventName: before ? 'MODIFY' : 'INSERT',
  eventSource: 'aws:dynamodb',
  dynamodb: {
    SequenceNumber: sequence,
    Keys: marshall({ messageId: after.messageId }) as never,
    ...(before ? { OldImage: marshall(before) as never } : {}),
    NewImage: marshall(after) as never,
  },
});

describe('outcome metrics from the messages stream', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('counts a message that became escalated or failed, once per change', () => {
    // Prepare
    const escalated = record(
      { messageId: 'm1', status: 'received' },
      { messageId: 'm1', status: 'escalated' }
    );
    const failed = record(
      { messageId: 'm2', status: 'sending' },
      { messageId: 'm2', status: 'failed' }
    );
    const timelineOnly = record(
      { messageId: 'm3', status: 'escalated' },
      { messageId: 'm3', status: 'escalated' }
    );

    // Act
    const found = [escalated, failed, timelineOnly].map(outcomeMetricsOf);

    // Assess
    expect(found).toEqual([['MessageEscalated'], ['MessageFailed'], []]);
  });

  it('counts an ACK after the message ended as late, and an ordinary ACK as acknowledged', () => {
    // Prepare
    const late = record(
      { messageId: 'm1', status: 'escalated' },
      { messageId: 'm1', status: 'escalated', ackedAt: '2026-11-27T08:00:00Z' }
    );
    const onTime = record(
      { messageId: 'm2', status: 'received' },
      {
        messageId: 'm2',
        status: 'acknowledged',
        ackedAt: '2026-11-27T08:00:00Z',
      }
    );

    // Act / Assess
    expect(outcomeMetricsOf(late)).toEqual(['MessageAcknowledgedLate']);
    expect(outcomeMetricsOf(onTime)).toEqual(['MessageAcknowledged']);
  });

  it('emits the metrics of a batch and reports no failures', async () => {
    // Prepare
    const added = vi
      .spyOn(metrics, 'addMetric')
      .mockImplementation(() => metrics);
    const event: DynamoDBStreamEvent = {
      Records: [
        record(
          { messageId: 'm1', status: 'sending' },
          { messageId: 'm1', status: 'stored' },
          '1'
        ),
        record(
          { messageId: 'm2', status: 'received' },
          { messageId: 'm2', status: 'escalated' },
          '2'
        ),
      ],
    };

    // Act
    const response = await createHandler({} as AppDeps)(event);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(added.mock.calls.map((c) => c[0])).toEqual([
      'MessageStored',
      'MessageEscalated',
    ]);
  });
});
