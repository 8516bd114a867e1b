import type { Message } from './message.ts';
import type {
  Clock,
  DeliveryStarter,
  MessageRepository,
  OfflineStore,
  SessionRepository,
  StoredMessage,
} from './ports.ts';

/** What dispatching needs. */
export interface DispatchDeps {
  readonly messages: MessageRepository;
  readonly sessions: SessionRepository;
  readonly offline: OfflineStore;
  readonly deliveries: DeliveryStarter;
  readonly clock: Clock;
}

/** The offline-store item of a message's next delivery. */
export const storedItemOf = (
  message: Message,
  delivery: number
): StoredMessage => ({
  userId: message.to,
  storedKey: `${message.createdAt}#${message.messageId}`,
  messageId: message.messageId,
  delivery,
  expiresAt: message.expiresAt,
});

/** Starts the delivery cycle of one delivery of a message. */
export const startDelivery = (
  message: Message,
  delivery: number,
  deps: Pick<DispatchDeps, 'deliveries'>
): Promise<void> =>
  deps.deliveries.start({
    messageId: message.messageId,
    delivery,
    intervalSeconds: message.policy.intervalSeconds,
    maxAttempts: message.policy.maxAttempts,
  });

/**
 * Starts the delivery of a stored message and takes it out of the store.
 * Safe to run twice at once (a login's drain and a send's re-check may both
 * do it): the status change is conditional, the execution name is fixed by
 * the delivery number, and the store item goes only after the start.
 * Primary course: 1. mark sending  2. start the execution  3. remove the item.
 * @returns false when the message had expired (it is marked so instead)
 */
export const drainOne = async (
  item: StoredMessage,
  deps: DispatchDeps
): Promise<boolean> => {
  const now = deps.clock.now();
  const at = now.toISOString();
  if (Date.parse(item.expiresAt) <= now.getTime()) {
    await deps.messages.update(item.messageId, {
      set: { status: 'expired' },
      timeline: [
        { at, event: 'expired', detail: 'expired in the offline store' },
      ],
      when: { statusIn: ['stored'] },
    });
    await deps.offline.delete(item.userId, item.storedKey);
    return false;
  }
  const message = await deps.messages.update(item.messageId, {
    set: { status: 'sending', delivery: item.delivery },
    timeline: [
      {
        at,
        event: 'drained',
        detail: 'recipient logged in; delivery starts',
      },
    ],
    when: { statusIn: ['stored'] },
  });
  const current = message ?? (await deps.messages.get(item.messageId));
  // An ACK may have ended a stored message (an earlier push reached the
  // phone): then there is nothing to start, only the item to remove.
  if (
    current &&
    current.delivery === item.delivery &&
    current.status === 'sending'
  ) {
    await startDelivery(current, item.delivery, deps);
  }
  await deps.offline.delete(item.userId, item.storedKey);
  return true;
};

/**
 * Puts a message in the offline store for its recipient's next login.
 * Write-then-check: the status and the store item are written first, then the
 * sessions are read again; a login that slipped in between is caught either
 * by its own drain (it sees the item) or by this re-check (we see its
 * session), and both at once start one execution.
 * @param delivery the delivery number the drain will start
 * @param reason why it is stored, for the timeline
 * @returns true when it stayed stored, false when a login took it at once
 */
export const storeForLater = async (
  message: Message,
  delivery: number,
  reason: string,
  deps: DispatchDeps
): Promise<boolean> => {
  const updated = await deps.messages.update(message.messageId, {
    // The next delivery starts afresh: the copies of this one were withdrawn
    // when the session ended, so no device counts as having it.
    // Its attempts start again from 1 too: a Push step may act only while no
    // later attempt of the delivery has begun (`attemptsAtMost`).
    set: { status: 'stored', delivery, deliveredTo: {}, attempts: 0 },
    timeline: [
      { at: deps.clock.now().toISOString(), event: 'stored', detail: reason },
    ],
    when: { statusIn: ['stored', 'sending', 'received'], notAcked: true },
  });
  if (!updated) return false;
  const item = storedItemOf(updated, delivery);
  await deps.offline.put(item);
  const sessions = await deps.sessions.listByUser(message.to);
  if (sessions.length === 0) return true;
  await drainOne(item, deps);
  return false;
};

/** Runs {@link drainOne} for each stored message of a user, oldest first. */
export const drainUser = async (
  userId: string,
  deps: DispatchDeps
): Promise<number> => {
  let drained = 0;
  for (const item of await deps.offline.list(userId)) {
    if (await drainOne(item, deps)) drained += 1;
  }
  return drained;
};
