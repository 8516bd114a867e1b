import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createHandler,
  outcomeMetricsOf,
  timeToAcknowledgeOf,
} from '../../../functions/handlers/outcome-metrics.ts';
import type { AppDeps } from '../../../functions/shared/deps.ts';
import { METRIC } from '../../../functions/shared/names.ts';
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
    expect(found).toEqual([
      [METRIC.MessageEscalated],
      [METRIC.MessageFailed],
      [],
    ]);
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
    expect(outcomeMetricsOf(late)).toEqual([METRIC.MessageAcknowledgedLate]);
    expect(outcomeMetricsOf(onTime)).toEqual([METRIC.MessageAcknowledged]);
  });

  it('counts each sms-failed event a change added to the timeline, once', () => {
    // Prepare
    const escalated = [
      { at: '2026-11-27T08:00:00Z', event: 'escalated' },
    ] as const;
    const onCallFailed = {
      at: '2026-11-27T08:00:01Z',
      event: 'sms-failed',
      detail: 'to the on-call topic: KMSAccessDeniedException: denied',
    };
    const recipientFailed = {
      at: '2026-11-27T08:00:02Z',
      event: 'sms-failed',
      detail: 'to the recipient at +15555550123: InvalidParameter: bad number',
    };
    const sent = { at: '2026-11-27T08:00:03Z', event: 'sms-sent' };
    const m = { messageId: 'm1', status: 'escalated' };
    const first = record(
      { ...m, timeline: [...escalated] },
      { ...m, timeline: [...escalated, onCallFailed] }
    );
    const second = record(
      { ...m, timeline: [...escalated, onCallFailed] },
      { ...m, timeline: [...escalated, onCallFailed, recipientFailed] }
    );
    const sentAfter = record(
      { ...m, timeline: [...escalated, onCallFailed, recipientFailed] },
      { ...m, timeline: [...escalated, onCallFailed, recipientFailed, sent] }
    );
    const both = record(
      { messageId: 'm2', status: 'received' },
      {
        messageId: 'm2',
        status: 'escalated',
        timeline: [...escalated, onCallFailed, recipientFailed],
      }
    );

    // Act
    const found = [first, second, sentAfter, both].map(outcomeMetricsOf);

    // Assess
    expect(found).toEqual([
      [METRIC.EscalationSmsFailed],
      [METRIC.EscalationSmsFailed],
      [],
      [
        METRIC.MessageEscalated,
        METRIC.EscalationSmsFailed,
        METRIC.EscalationSmsFailed,
      ],
    ]);
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
        record(
          { messageId: 'm3', status: 'escalated', timeline: [] },
          {
            messageId: 'm3',
            status: 'escalated',
            timeline: [{ at: '2026-11-27T08:00:00Z', event: 'sms-failed' }],
          },
          '3'
        ),
      ],
    };

    // Act
    const response = await createHandler({} as AppDeps)(event);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(added.mock.calls.map((c) => c[0])).toEqual([
      METRIC.MessageStored,
      METRIC.MessageEscalated,
      METRIC.EscalationSmsFailed,
    ]);
  });

  it('measures the time from acceptance to confirmation of a message that became acknowledged, once', () => {
    // Prepare
    const m = { messageId: 'm1', createdAt: '2026-11-27T08:00:00.000Z' };
    const acked = {
      ...m,
      status: 'acknowledged',
      ackedAt: '2026-11-27T08:01:02.500Z',
    };
    const confirmed = record({ ...m, status: 'received' }, acked);
    const again = record(acked, { ...acked, timeline: [] });
    const late = record(
      { ...m, status: 'escalated' },
      { ...m, status: 'escalated', ackedAt: '2026-11-27T09:00:00.000Z' }
    );
    const skewed = record(
      { ...m, status: 'sending' },
      { ...acked, ackedAt: '2026-11-27T07:59:59.900Z' }
    );
    const unreadable = record(
      { messageId: 'm2', status: 'sending' },
      { messageId: 'm2', status: 'acknowledged', ackedAt: 'later' }
    );

    // Act
    const found = [confirmed, again, late, skewed, unreadable].map(
      timeToAcknowledgeOf
    );

    // Assess
    expect(found).toEqual([62_500, undefined, undefined, 0, undefined]);
  });

  it('emits TimeToAcknowledge in milliseconds beside the outcome count', async () => {
    // Prepare
    const added = vi
      .spyOn(metrics, 'addMetric')
      .mockImplementation(() => metrics);
    const event: DynamoDBStreamEvent = {
      Records: [
        record(
          {
            messageId: 'm1',
            status: 'sending',
            createdAt: '2026-11-27T08:00:00.000Z',
          },
          {
            messageId: 'm1',
            status: 'acknowledged',
            createdAt: '2026-11-27T08:00:00.000Z',
            ackedAt: '2026-11-27T08:00:04.000Z',
          }
        ),
      ],
    };

    // Act
    const response = await createHandler({} as AppDeps)(event);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(added.mock.calls).toEqual([
      [METRIC.MessageAcknowledged, MetricUnit.Count, 1],
      [METRIC.TimeToAcknowledge, MetricUnit.Milliseconds, 4000],
    ]);
  });
});
