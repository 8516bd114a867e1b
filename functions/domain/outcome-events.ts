import {
  type Confirmation,
  type MessageStatus,
  OUTCOME_EVENT_SOURCE,
  OUTCOME_EVENT_TYPES,
  type OutcomeEventType,
  type OutcomeKind,
} from '../shared/names.ts';
import type { Message } from './message.ts';

/**
 * The `detail` of an outcome event: what a backend needs to act on the
 * message's new state, and nothing of its content unless the stack is set
 * to include it.
 */
export interface OutcomeEventDetail {
  /**
   * Stable id of this event: the same on every redelivery of it, different
   * for every other event. De-duplicate by it.
   */
  readonly eventId: string;
  /** What happened (a key of {@link OUTCOME_EVENT_TYPES}). */
  readonly kind: OutcomeKind;
  readonly messageId: string;
  readonly to: string;
  /** The sender of a chat message, or `null`. */
  readonly from: string | null;
  /** The message's status after the change. */
  readonly status: MessageStatus;
  /** Its status before (`null` for `Message Accepted` and the first status). */
  readonly previousStatus: MessageStatus | null;
  /** When it happened (ISO 8601 UTC). */
  readonly at: string;
  /** Push attempts made in the current delivery. */
  readonly attempt: number;
  /** The delivery (1, then 2 after a re-store and a login, …). */
  readonly delivery: number;
  /** The sender's idempotency key, or `null`. */
  readonly idempotencyKey: string | null;
  /**
   * Orders a message's events: the number of timeline entries the message
   * had at the change (`Message Accepted` is 0). Events can arrive out of
   * order; sort a message's events by it.
   */
  readonly sequence: number;
  /** On `Message Acknowledged` and `Message Acknowledged Late`. */
  readonly confirmedBy?: Confirmation;
  /** On `Message Failed`: JPush's reason. */
  readonly failureReason?: string;
  /** Only with `eventsIncludeContent`. */
  readonly title?: string;
  /** Only with `eventsIncludeContent`. */
  readonly body?: string;
  /** Only with `eventsIncludeContent`. */
  readonly data?: Record<string, string>;
}

/** One outcome event, as it is put on the bus. */
export interface OutcomeEvent {
  readonly source: typeof OUTCOME_EVENT_SOURCE;
  readonly detailType: OutcomeEventType;
  /** EventBridge's `time`: {@link OutcomeEventDetail.at}. */
  readonly time: string;
  readonly detail: OutcomeEventDetail;
}

/** Publishes outcome events (the EventBridge bus, or the local one). */
export interface OutcomeEventPublisher {
  /**
   * Publishes the events in order.
   * @returns how many of them, from the first, are published (all unless
   * one failed for good; the rest are to be published again)
   */
  publish(events: readonly OutcomeEvent[]): Promise<number>;
}

/** The parts of a message image an event is made from. */
export type MessageImage = Partial<Message>;

/** Options of {@link outcomeEventsOf}. */
export interface OutcomeEventOptions {
  /** Add the title, body and data (`eventsIncludeContent`). @default false */
  readonly includeContent?: boolean;
}

const isComplete = (
  image: MessageImage | undefined
): image is MessageImage &
  Pick<Message, 'messageId' | 'to' | 'status' | 'timeline'> =>
  typeof image?.messageId === 'string' &&
  typeof image.to === 'string' &&
  typeof image.status === 'string' &&
  Array.isArray(image.timeline);

/**
 * The outcome events one change of a message stands for, in order:
 * - a new message: `Message Accepted`, then `Message Stored` when it was
 *   stored at once (its recipient had no session);
 * - a new status: the event of that status (`Message Received`,
 *   `Message Acknowledged` with `confirmedBy`, `Message Escalated`, …);
 * - an ACK after the message ended: `Message Acknowledged Late`.
 *
 * A deleted message (its retention ran out, or the user was erased) stands
 * for none. The same change gives the same events, ids included, however
 * often it is read: a redelivered stream record gives duplicates that the
 * ids tell apart.
 * @param before the item before the change (none for a new message)
 * @param after the item after it (none when it was deleted)
 */
export const outcomeEventsOf = (
  before: MessageImage | undefined,
  after: MessageImage | undefined,
  options: OutcomeEventOptions = {}
): OutcomeEvent[] => {
  if (!isComplete(after)) return [];
  const isNew = !isComplete(before);
  const event = (
    kind: OutcomeKind,
    previousStatus: MessageStatus | null,
    at: string | undefined,
    sequence: number
  ): OutcomeEvent => {
    const time = at ?? after.updatedAt ?? after.createdAt ?? '';
    const detail: OutcomeEventDetail = {
      eventId: `${after.messageId}.${sequence}.${kind}`,
      kind,
      messageId: after.messageId,
      to: after.to,
      from: after.from ?? null,
      status: after.status,
      previousStatus,
      at: time,
      attempt: after.attempts ?? 0,
      delivery: after.delivery ?? 1,
      idempotencyKey: after.idempotencyKey ?? null,
      sequence,
      ...(kind === 'acknowledged' || kind === 'late-ack'
        ? { confirmedBy: after.confirmedBy ?? 'ack' }
        : {}),
      ...(kind === 'failed' && after.failureReason
        ? { failureReason: after.failureReason }
        : {}),
      ...(options.includeContent
        ? {
            ...(after.title === undefined ? {} : { title: after.title }),
            ...(after.body === undefined ? {} : { body: after.body }),
            ...(after.data === undefined ? {} : { data: after.data }),
          }
        : {}),
    };
    return {
      source: OUTCOME_EVENT_SOURCE,
      detailType: OUTCOME_EVENT_TYPES[kind],
      time,
      detail,
    };
  };
  const sequence = after.timeline.length;
  const found: OutcomeEvent[] = [];
  if (isNew) {
    found.push(event('accepted', null, after.createdAt, 0));
    // A message is taken as `sending` (the recipient has a session) or
    // `stored`; only the second is an outcome of its own.
    if (after.status !== 'sending') {
      found.push(event(after.status, null, after.createdAt, sequence));
    }
    return found;
  }
  if (after.status !== before.status) {
    found.push(
      event(after.status, before.status, atOf(after, after.status), sequence)
    );
  } else if (after.ackedAt && !before.ackedAt) {
    // The message had ended (escalated, expired, …): the ACK is recorded
    // and changes nothing else.
    found.push(event('late-ack', before.status, after.ackedAt, sequence));
  }
  return found;
};

/** When a status was reached: the time the message records for it. */
const atOf = (
  image: MessageImage,
  status: MessageStatus
): string | undefined => {
  if (status === 'acknowledged') return image.ackedAt ?? image.updatedAt;
  if (status === 'escalated') return image.escalatedAt ?? image.updatedAt;
  return image.updatedAt;
};
