import * as z from 'zod';
import type { EraseUserResponse } from '../shared/api-schemas.ts';
import type { PushOutcome } from '../shared/names.ts';
import { storedItemOf } from './dispatch.ts';
import type { JPushPort } from './jpush.ts';
import { type Message, UserId } from './message.ts';
import type {
  Clock,
  DeviceRepository,
  HistoryEntry,
  HistoryRepository,
  MessageRepository,
  OfflineStore,
  SessionRepository,
  TaskCallbacks,
  WithdrawalOutbox,
} from './ports.ts';
import { tryJPush } from './sessions.ts';

/** Path of `DELETE /v1/users/{userId}`. */
export const EraseUserInput = z.strictObject({ userId: UserId });
export type EraseUserInput = z.infer<typeof EraseUserInput>;

/** What erasing a user needs. */
export interface EraseUserDeps {
  readonly messages: MessageRepository;
  readonly sessions: SessionRepository;
  readonly devices: DeviceRepository;
  readonly offline: OfflineStore;
  readonly history: HistoryRepository;
  readonly outbox: WithdrawalOutbox;
  readonly jpush: JPushPort;
  readonly callbacks: TaskCallbacks;
  readonly clock: Clock;
}

/** What an erasure removed, by kind (the route's answer). */
export type EraseUserResult = EraseUserResponse;

/** What the Push step's wait ends with: nothing to wait for (`Finished`). */
const ERASED_OUTPUT = { outcome: 'done' satisfies PushOutcome };
const HISTORY_PAGE = 100;

/**
 * Erases a user: their messages (sent and received, content, timeline,
 * pushes), their history, their sessions and device ownerships, what waits
 * for them in the offline store, and their JPush alias. Idempotent: erasing
 * again finds nothing and answers zeros (and clears the alias again).
 * Primary course: 1. end the user's sessions and forget their devices, so
 * that nothing new is pushed to them  2. remove the alias from every
 * device (JPush's `DELETE /v3/aliases/{alias}`)  3. for each message in the
 * user's history: end the wait of its running delivery, withdraw from
 * JPush the pushes that may still be on their way, drop its pending
 * withdrawals, erase it and both sides' history entries  4. empty the
 * user's offline store.
 * A delivery that was not waiting (between steps, or pacing) ends at its
 * next step, which finds no message: `Finished`, never a failure.
 */
export const eraseUser = async (
  input: EraseUserInput,
  deps: EraseUserDeps
): Promise<EraseUserResult> => {
  const { userId } = input;
  const sessions = await deps.sessions.listByUser(userId);
  for (const session of sessions) {
    await deps.sessions.delete(userId, session.registrationId);
    await deps.devices.deleteIfOwner(session.registrationId, userId);
  }
  const aliasError = await tryJPush(() => deps.jpush.deleteAlias(userId));

  const entries = await allHistory(userId, deps.history);
  const ids = [...new Set(entries.map((e) => e.messageId))];
  const found = ids.length === 0 ? [] : await deps.messages.getMany(ids);
  const now = deps.clock.now().getTime();
  let messages = 0;
  let history = 0;
  let deliveriesStopped = 0;
  let pushesWithdrawn = 0;
  for (const message of found) {
    // A history entry names the user; its message must name them too.
    if (message.to !== userId && message.from !== userId) continue;
    if (await stopDelivery(message, deps)) deliveriesStopped++;
    pushesWithdrawn += await withdrawAll(message, now, deps);
    // Pending withdrawals name the message, and why (a device's user).
    for (const key of Object.keys(message.pushes)) {
      await deps.outbox.delete(message.messageId, key);
    }
    if (await deps.messages.delete(message.messageId)) messages++;
    if (message.to !== userId) {
      // A chat the user sent may wait in the recipient's offline store.
      const { userId: to, storedKey } = storedItemOf(message, message.delivery);
      await deps.offline.delete(to, storedKey);
    }
    const other = message.to === userId ? message.from : message.to;
    if (
      other !== undefined &&
      other !== userId &&
      (await deps.history.delete({
        userId: other,
        messageId: message.messageId,
        createdAt: message.createdAt,
      }))
    ) {
      history++;
    }
  }
  for (const entry of entries) {
    if (await deps.history.delete(entry)) history++;
  }

  const stored = await deps.offline.list(userId);
  for (const item of stored) {
    // Stored messages are in the history too; one that is not goes here.
    const left = await deps.messages.getFields(item.messageId, ['to']);
    if (left?.to === userId && (await deps.messages.delete(item.messageId))) {
      messages++;
    }
    await deps.offline.delete(userId, item.storedKey);
  }

  return {
    userId,
    messages,
    history,
    sessions: sessions.length,
    offline: stored.length,
    deliveriesStopped,
    pushesWithdrawn,
    ...(aliasError === undefined
      ? { alias: 'cleared' as const }
      : { alias: 'failed' as const, aliasError }),
  };
};

/** Every history entry of a user, read before any is deleted. */
const allHistory = async (
  userId: string,
  history: HistoryRepository
): Promise<HistoryEntry[]> => {
  const entries: HistoryEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await history.page(userId, HISTORY_PAGE, cursor);
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return entries;
};

/**
 * Ends the Push step's wait of a running delivery (its task token), so the
 * execution ends `Finished` now instead of at the interval.
 * @returns true when a waiting step got it
 */
const stopDelivery = async (
  message: Message,
  deps: EraseUserDeps
): Promise<boolean> => {
  if (message.taskToken === undefined) return false;
  if (message.status !== 'sending' && message.status !== 'received') {
    return false;
  }
  try {
    return (
      (await deps.callbacks.succeed(message.taskToken, ERASED_OUTPUT)) ===
      'delivered'
    );
  } catch {
    // Its next step finds the message gone and ends the execution.
    return false;
  }
};

/**
 * Withdraws from JPush, once and without the outbox, the pushes of a
 * message that may still wait in JPush's queue for a device: accepted,
 * not withdrawn, and within the message's life (a push's time_to_live is
 * at most that). What JPush refuses or does not answer is left to its
 * time_to_live.
 * @returns how many JPush withdrew
 */
const withdrawAll = async (
  message: Message,
  now: number,
  deps: EraseUserDeps
): Promise<number> => {
  if (Date.parse(message.expiresAt) <= now) return 0;
  let withdrawn = 0;
  for (const push of Object.values(message.pushes)) {
    if (push.jpushMsgId === undefined || push.withdrawnAt !== undefined) {
      continue;
    }
    const msgId = push.jpushMsgId;
    if ((await tryJPush(() => deps.jpush.withdraw(msgId))) === undefined) {
      withdrawn++;
    }
  }
  return withdrawn;
};
