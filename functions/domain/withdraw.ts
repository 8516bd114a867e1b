import {
  type JPushPort,
  JPushRateLimitError,
  JPushRejectedError,
} from './jpush.ts';
import type { Message, PushRecord } from './message.ts';
import type {
  Clock,
  MessageRepository,
  SigningKeySource,
  Withdrawal,
  WithdrawalOutbox,
} from './ports.ts';
import { sendRecordedPush } from './push-send.ts';

/** What withdrawing needs. */
export interface WithdrawDeps {
  readonly messages: MessageRepository;
  readonly jpush: JPushPort;
  readonly outbox: WithdrawalOutbox;
  readonly ackKey: SigningKeySource;
  readonly clock: Clock;
  /** Backoff between tries. @default 2 s doubling, at most 5 min */
  readonly withdrawRetry?: {
    readonly baseMs: number;
    readonly maxMs: number;
    /**
     * How long one of JPush's rate-limit seconds lasts here: the local
     * mode's time scale, where the simulator's windows run in policy time.
     * @default 1
     */
    readonly windowScale?: number;
  };
}

/** What became of a withdrawal. */
export type WithdrawOutcome =
  /** JPush withdrew it. */
  | 'withdrawn'
  /** JPush answered that it cannot (e.g. unknown or already gone): final. */
  | 'refused'
  /** JPush failed or did not answer: the outbox tries again later. */
  | 'retrying'
  /** Nothing to withdraw (never reached JPush, or withdrawn before). */
  | 'nothing';

/** The result of one withdrawal, with JPush's words when it failed. */
export interface WithdrawResult {
  readonly outcome: WithdrawOutcome;
  readonly msgId?: string;
  readonly code?: number;
  readonly reason?: string;
}

const DEFAULT_RETRY: NonNullable<WithdrawDeps['withdrawRetry']> = {
  baseMs: 2_000,
  maxMs: 300_000,
};

/**
 * Withdraws one push, durably.
 * Primary course: 1. record the withdrawal in the outbox  2. a push whose
 * answer was lost is first sent again with its cid (JPush returns the first
 * result and pushes nothing new; if JPush never got it, it goes out now and
 * is withdrawn at once), so its msg_id is known  3. ask JPush to withdraw
 * it  4. on success, or on a final refusal, mark the push and drop the
 * outbox entry; on a failure JPush may recover from (5xx, 429, no answer),
 * keep the entry with the next try's time, for {@link sweepWithdrawals}.
 * Entries end when the push's time_to_live has passed.
 * @param registrationId the device a logout left, whose delivery mark goes
 */
export const withdrawPush = async (
  message: Message,
  pushKey: string,
  why: string,
  deps: WithdrawDeps,
  registrationId?: string
): Promise<WithdrawResult> => {
  const push = message.pushes[pushKey];
  if (!push || push.withdrawnAt !== undefined) return { outcome: 'nothing' };
  const now = deps.clock.now();
  const entry: Withdrawal = {
    messageId: message.messageId,
    pushKey,
    why,
    ...(registrationId === undefined ? {} : { registrationId }),
    tries: 0,
    nextAt: now.toISOString(),
    until: pushExpiry(message, push),
  };
  await deps.outbox.put(entry);
  return tryWithdrawal(message, entry, deps);
};

/**
 * Tries the due withdrawals of the outbox once each (run every minute on
 * AWS, by a timer locally).
 * @param limit the most entries tried in one run
 * @returns how many ended in each way
 */
export const sweepWithdrawals = async (
  deps: WithdrawDeps,
  limit = 100
): Promise<Record<WithdrawOutcome | 'expired', number>> => {
  const counts = {
    withdrawn: 0,
    refused: 0,
    retrying: 0,
    nothing: 0,
    expired: 0,
  };
  const now = deps.clock.now();
  for (const entry of await deps.outbox.due(now, limit)) {
    const message = await deps.messages.get(entry.messageId);
    const push = message?.pushes[entry.pushKey];
    if (!message || !push || push.withdrawnAt !== undefined) {
      await deps.outbox.delete(entry.messageId, entry.pushKey);
      counts.nothing += 1;
      continue;
    }
    if (Date.parse(entry.until) <= now.getTime()) {
      await deps.outbox.delete(entry.messageId, entry.pushKey);
      await deps.messages.update(entry.messageId, {
        timeline: [
          {
            at: now.toISOString(),
            event: 'withdraw-ended',
            detail: `attempt ${push.attempt}: ${entry.why}; the push's time_to_live has passed after ${entry.tries} failed withdrawal(s), so JPush no longer delivers it`,
          },
        ],
      });
      counts.expired += 1;
      continue;
    }
    const result = await tryWithdrawal(message, entry, deps);
    counts[result.outcome] += 1;
  }
  return counts;
};

/** The moment a push's time_to_live ends. */
const pushExpiry = (message: Message, push: PushRecord): string => {
  const ttlEnd = Date.parse(push.at) + push.ttlSeconds * 1000;
  return new Date(
    Math.min(ttlEnd, Date.parse(message.expiresAt))
  ).toISOString();
};

const tryWithdrawal = async (
  message: Message,
  entry: Withdrawal,
  deps: WithdrawDeps
): Promise<WithdrawResult> => {
  const push = message.pushes[entry.pushKey] as PushRecord;
  const at = () => deps.clock.now().toISOString();
  let msgId = push.jpushMsgId;
  try {
    if (push.state === 'pending') {
      const resolved = await sendRecordedPush(
        message,
        entry.pushKey,
        push,
        deps,
        'resolved before its withdrawal'
      );
      msgId = resolved.record.jpushMsgId;
      if (resolved.record.state !== 'pushed') msgId = undefined;
    }
    if (msgId === undefined) {
      await deps.outbox.delete(entry.messageId, entry.pushKey);
      return { outcome: 'nothing' };
    }
    await deps.jpush.withdraw(msgId);
  } catch (error) {
    if (error instanceof JPushRejectedError) {
      await deps.outbox.delete(entry.messageId, entry.pushKey);
      await deps.messages.update(message.messageId, {
        timeline: [
          {
            at: at(),
            event: 'withdrawn',
            detail: `attempt ${push.attempt}: ${entry.why}; JPush msg_id ${msgId ?? '(none)'} not withdrawn (JPush ${error.code ?? error.httpStatus ?? ''}: ${error.message})`,
          },
        ],
      });
      return {
        outcome: 'refused',
        ...(msgId === undefined ? {} : { msgId }),
        ...(error.code === undefined ? {} : { code: error.code }),
        reason: error.message,
      };
    }
    const reason = error instanceof Error ? error.message : String(error);
    const retry = deps.withdrawRetry ?? DEFAULT_RETRY;
    const tries = entry.tries + 1;
    const backoff =
      error instanceof JPushRateLimitError && error.rateLimit?.resetSeconds
        ? error.rateLimit.resetSeconds * 1000 * (retry.windowScale ?? 1)
        : Math.min(retry.maxMs, retry.baseMs * 2 ** (tries - 1));
    const nextAt = new Date(deps.clock.now().getTime() + backoff);
    await deps.outbox.put({ ...entry, tries, nextAt: nextAt.toISOString() });
    await deps.messages.update(message.messageId, {
      timeline: [
        {
          at: at(),
          event: 'withdraw-failed',
          detail: `attempt ${push.attempt}: ${entry.why}; JPush ${msgId === undefined ? 'did not answer the push' : `msg_id ${msgId} not withdrawn yet`} (${reason}); try ${tries + 1} at ${nextAt.toISOString()}`,
        },
      ],
    });
    return {
      outcome: 'retrying',
      ...(msgId === undefined ? {} : { msgId }),
      reason,
    };
  }
  const withdrawnAt = at();
  await deps.messages.update(message.messageId, {
    putInMap: [
      {
        map: 'pushes',
        key: entry.pushKey,
        value: {
          ...(message.pushes[entry.pushKey] as PushRecord),
          state: 'pushed',
          jpushMsgId: msgId,
          withdrawnAt,
        },
      },
    ],
    ...(entry.registrationId === undefined
      ? {}
      : {
          removeFromMap: [
            { map: 'deliveredTo' as const, key: entry.registrationId },
          ],
        }),
    timeline: [
      {
        at: withdrawnAt,
        event: 'withdrawn',
        detail: `attempt ${push.attempt}: ${entry.why}; JPush msg_id ${msgId} withdrawn`,
      },
    ],
  });
  await deps.outbox.delete(entry.messageId, entry.pushKey);
  return { outcome: 'withdrawn', msgId };
};
