import { describe, expect, it } from 'vitest';
import {
  type MessageImage,
  outcomeEventsOf,
} from '../../../functions/domain/outcome-events.ts';
import {
  OUTCOME_EVENT_SOURCE,
  OUTCOME_EVENT_TYPES,
} from '../../../functions/shared/names.ts';

const entry = (event: string) => ({ at: '2026-12-03T10:00:00.000Z', event });

const message = (over: MessageImage = {}): MessageImage => ({
  messageId: 'm1',
  to: 'user-42',
  body: 'Your order shipped',
  title: 'Order',
  status: 'sending',
  attempts: 0,
  delivery: 1,
  createdAt: '2026-12-03T10:00:00.000Z',
  updatedAt: '2026-12-03T10:00:00.000Z',
  timeline: [entry('accepted')] as MessageImage['timeline'],
  ...over,
});

describe('outcome events of a change of a message', () => {
  it('gives a new message one Message Accepted, with ids and no content', () => {
    // Act
    const events = outcomeEventsOf(undefined, message());

    // Assess
    expect(events).toEqual([
      {
        source: OUTCOME_EVENT_SOURCE,
        detailType: 'Message Accepted',
        time: '2026-12-03T10:00:00.000Z',
        detail: {
          eventId: 'm1.0.accepted',
          kind: 'accepted',
          messageId: 'm1',
          to: 'user-42',
          from: null,
          status: 'sending',
          previousStatus: null,
          at: '2026-12-03T10:00:00.000Z',
          attempt: 0,
          delivery: 1,
          idempotencyKey: null,
          sequence: 0,
        },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain('Your order shipped');
  });

  it('gives a message stored at once Message Accepted, then Message Stored', () => {
    // Act
    const events = outcomeEventsOf(
      undefined,
      message({
        status: 'stored',
        idempotencyKey: 'order-7',
        from: 'user-1',
        timeline: [entry('accepted'), entry('stored')] as never,
      })
    );

    // Assess
    expect(events.map((e) => [e.detailType, e.detail.sequence])).toEqual([
      ['Message Accepted', 0],
      ['Message Stored', 2],
    ]);
    expect(events[1]?.detail).toMatchObject({
      status: 'stored',
      previousStatus: null,
      idempotencyKey: 'order-7',
      from: 'user-1',
    });
  });

  it('names each new status, with what confirmed an acknowledged message and when', () => {
    // Prepare
    const before = message({ status: 'received', attempts: 1 });
    const after = message({
      status: 'acknowledged',
      attempts: 1,
      confirmedBy: 'report',
      ackedAt: '2026-12-03T10:00:05.000Z',
      updatedAt: '2026-12-03T10:00:06.000Z',
      timeline: [
        entry('accepted'),
        entry('pushed'),
        entry('acknowledged'),
      ] as never,
    });

    // Act
    const [event, ...rest] = outcomeEventsOf(before, after);

    // Assess
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      detailType: OUTCOME_EVENT_TYPES.acknowledged,
      time: '2026-12-03T10:00:05.000Z',
      detail: {
        eventId: 'm1.3.acknowledged',
        status: 'acknowledged',
        previousStatus: 'received',
        confirmedBy: 'report',
        attempt: 1,
        sequence: 3,
      },
    });
  });

  it('gives an ACK after the message ended Message Acknowledged Late, and nothing for a change that is no outcome', () => {
    // Prepare
    const escalated = message({ status: 'escalated', attempts: 3 });
    const lateAcked = message({
      status: 'escalated',
      attempts: 3,
      ackedAt: '2026-12-03T11:00:00.000Z',
      timeline: [entry('accepted'), entry('late-ack')] as never,
    });
    const moreTimeline = message({
      status: 'escalated',
      timeline: [entry('accepted'), entry('sms-sent')] as never,
    });

    // Act
    const late = outcomeEventsOf(escalated, lateAcked);
    const none = outcomeEventsOf(escalated, moreTimeline);

    // Assess
    expect(late.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        kind: 'late-ack',
        status: 'escalated',
        previousStatus: 'escalated',
        confirmedBy: 'ack',
        at: '2026-12-03T11:00:00.000Z',
      }),
    ]);
    expect(late[0]?.detailType).toBe('Message Acknowledged Late');
    expect(none).toEqual([]);
  });

  it('gives a deleted message no event, and the same change the same ids every time', () => {
    // Prepare
    const before = message({ status: 'sending' });
    const after = message({
      status: 'failed',
      failureReason: 'JPush 1003: bad payload',
      timeline: [entry('accepted'), entry('failed')] as never,
    });

    // Act
    const first = outcomeEventsOf(before, after);
    const again = outcomeEventsOf(before, after);

    // Assess
    expect(outcomeEventsOf(before, undefined)).toEqual([]);
    expect(again).toEqual(first);
    expect(first[0]?.detail).toMatchObject({
      eventId: 'm1.2.failed',
      failureReason: 'JPush 1003: bad payload',
    });
  });

  it('adds the title, body and data only when the stack includes content', () => {
    // Act
    const [event] = outcomeEventsOf(
      undefined,
      message({ data: { orderId: '7' } }),
      { includeContent: true }
    );

    // Assess
    expect(event?.detail).toMatchObject({
      title: 'Order',
      body: 'Your order shipped',
      data: { orderId: '7' },
    });
  });
});
