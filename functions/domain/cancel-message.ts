import type { CancelMessageResponse } from '../shared/api-schemas.ts';
import type { PushOutcome } from '../shared/names.ts';
import { storedItemOf } from './dispatch.ts';
import { ConflictError, MessageEndedError, NotFoundError } from './errors.ts';
import type { Message, MessageStatus } from './message.ts';
import type { OfflineStore, TaskCallbacks } from './ports.ts';
import { type WithdrawDeps, withdrawPush } from './withdraw.ts';

/** What cancelling needs. */
export interface CancelMessageDeps extends WithdrawDeps {
  readonly offline: OfflineStore;
  readonly callbacks: TaskCallbacks;
}

/** What a cancel did (the route's answer). */
export type CancelMessageResult = CancelMessageResponse;

/** Statuses a message can be cancelled in: it has not ended. */
const CANCELLABLE: readonly MessageStatus[] = ['stored', 'sending', 'received'];

/** What the Push step's wait ends with: nothing to wait for (`Finished`). */
const CANCELLED_OUTPUT = { outcome: 'done' satisfies PushOutcome };

const WHY = 'the backend cancelled the message';

/**
 * Cancels a message that has not ended. Idempotent: cancelling a cancelled
 * message again answers the same and changes nothing.
 * Primary course: 1. find the message  2. mark it `cancelled`, only while it
 * is stored or being delivered and not acknowledged (one conditional write,
 * so a racing ACK, escalation or expiry wins or loses as a whole)  3. end
 * the wait of its running delivery (the task token kept with the attempt),
 * so the execution ends `Finished` now; a delivery between steps ends at
 * its next step, which finds the message no longer sending  4. take it out
 * of the offline store  5. withdraw, through the outbox, every push that
 * may still wait in JPush or sit unacknowledged on a device (a push whose
 * answer was lost is first resolved with its cid).
 * A Push step running meanwhile cannot record a new push: its writes hold
 * only while the message is sending; a push it recorded before is in the
 * message the cancel wrote, and withdrawn with the others.
 * @throws NotFoundError when there is no such message
 * @throws MessageEndedError when it already ended (acknowledged,
 * escalated, expired, failed), naming its status
 */
export const cancelMessage = async (
  messageId: string,
  deps: CancelMessageDeps
): Promise<CancelMessageResult> => {
  const repeated: CancelMessageResult = {
    messageId,
    status: 'cancelled',
    repeated: true,
    deliveryStopped: false,
    pushesWithdrawn: 0,
    withdrawalsPending: 0,
  };
  // A second read happens only when something else changed the message
  // between the read and the conditional write; it has then ended.
  for (let tries = 0; ; tries++) {
    const message = await deps.messages.get(messageId);
    if (!message) throw new NotFoundError(`No message with id ${messageId}.`);
    if (message.status === 'cancelled') return repeated;
    const now = deps.clock.now();
    const ended = endedStatus(message, now);
    if (ended !== undefined) {
      throw new MessageEndedError(
        `Message ${messageId} is already ${ended}; only a message that is stored or being delivered can be cancelled.`,
        messageId,
        ended
      );
    }
    const cancelled = await deps.messages.update(messageId, {
      set: { status: 'cancelled' },
      timeline: [
        {
          at: now.toISOString(),
          event: 'cancelled',
          detail: `cancelled by the backend while ${message.status}; the delivery stops and what was pushed is withdrawn`,
        },
      ],
      when: { statusIn: CANCELLABLE, notAcked: true },
    });
    if (cancelled) return stop(cancelled, deps);
    if (tries >= 2) {
      throw new ConflictError(
        `Message ${messageId} changed while it was being cancelled; read its status and try again.`
      );
    }
  }
};

/**
 * The status a message has ended with, or undefined while it can be
 * cancelled. A stored message whose life ended shows as `expired` (as the
 * status route shows it).
 */
const endedStatus = (
  message: Message,
  now: Date
): MessageStatus | undefined => {
  if (!CANCELLABLE.includes(message.status)) return message.status;
  if (message.ackedAt !== undefined) return 'acknowledged';
  if (
    message.status === 'stored' &&
    Date.parse(message.expiresAt) <= now.getTime()
  ) {
    return 'expired';
  }
  return undefined;
};

/** Steps 3 to 5, on the message as the cancel left it. */
const stop = async (
  message: Message,
  deps: CancelMessageDeps
): Promise<CancelMessageResult> => {
  let deliveryStopped = false;
  if (message.taskToken !== undefined) {
    try {
      deliveryStopped =
        (await deps.callbacks.succeed(message.taskToken, CANCELLED_OUTPUT)) ===
        'delivered';
    } catch {
      // Its next step finds the message cancelled and ends the execution.
    }
  }
  const { userId, storedKey } = storedItemOf(message, message.delivery);
  await deps.offline.delete(userId, storedKey);

  const now = deps.clock.now().getTime();
  let pushesWithdrawn = 0;
  let withdrawalsPending = 0;
  for (const [key, push] of Object.entries(message.pushes)) {
    if (push.state === 'not-delivered' || push.withdrawnAt !== undefined) {
      continue;
    }
    // A push lives its time_to_live, and never past the message's life.
    const end = Math.min(
      Date.parse(push.at) + push.ttlSeconds * 1000,
      Date.parse(message.expiresAt)
    );
    if (end <= now) continue;
    const result = await withdrawPush(message, key, WHY, deps);
    if (result.outcome === 'withdrawn') pushesWithdrawn++;
    if (result.outcome === 'retrying') withdrawalsPending++;
  }
  return {
    messageId: message.messageId,
    status: 'cancelled',
    repeated: false,
    deliveryStopped,
    pushesWithdrawn,
    withdrawalsPending,
  };
};
