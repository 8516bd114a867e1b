import type { PushOutcome as StepOutcome } from '../shared/names.ts';
import { type DispatchDeps, storeForLater } from './dispatch.ts';
import {
  type JPushPort,
  JPushRateLimitError,
  JPushRejectedError,
} from './jpush.ts';
import {
  attemptKey,
  type Message,
  type PushRecord,
  TERMINAL_STATUSES,
} from './message.ts';
import type {
  CidSource,
  MessageUpdate,
  SigningKeySource,
  TaskCallbacks,
} from './ports.ts';
import { sendRecordedPush } from './push-send.ts';
import { type WithdrawDeps, withdrawPush } from './withdraw.ts';

export { buildPushPayload } from './push-send.ts';

/** What the state machine's Push step passes. */
export interface PushAttemptInput {
  readonly messageId: string;
  readonly delivery: number;
  readonly attempt: number;
  /** The step's task token: the ACK (or this step itself) ends the wait. */
  readonly taskToken: string;
}

/**
 * What happened in this attempt (every outcome but `acknowledged`, which
 * only the ACK function sends).
 */
export type PushOutcome = Exclude<StepOutcome, 'acknowledged'>;

/** Outcomes after which the step keeps waiting on its task token. */
export const WAITING_OUTCOMES: readonly PushOutcome[] = [
  'pushed',
  'no-target',
  'awaiting-ack',
];

/** The Push step's result. */
export interface PushAttemptResult {
  readonly outcome: PushOutcome;
  readonly jpushMsgId?: string;
  readonly targets: string[];
  /** For `paced`: seconds until JPush's window opens again. */
  readonly waitSeconds?: number;
}

/** What a push attempt needs. */
export interface PushAttemptDeps extends DispatchDeps, WithdrawDeps {
  readonly jpush: JPushPort;
  readonly ackKey: SigningKeySource;
  readonly cids: CidSource;
  readonly callbacks: TaskCallbacks;
}

/** JPush keeps offline messages at most 10 days (reference §2.5). */
const MAX_TTL_SECONDS = 864_000;
/** `override_msg_id` only works within a day of the first push (§2.5). */
const OVERRIDE_WINDOW_MS = 86_400_000 - 600_000;
/** When JPush gives no reset time with a 429. */
const DEFAULT_PACE_SECONDS = 5;
/** Spread of the paced waits, so a crowd does not return at one instant. */
const PACE_JITTER_SECONDS = 3;

/**
 * JPush's Report API works by calendar day in China Standard Time (UTC+8),
 * where JPush runs; a push at 23:30 UTC is "tomorrow" there.
 */
export const jpushDate = (at: Date): string =>
  new Date(at.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);

/**
 * One push attempt of the delivery cycle, run with a task token.
 * Primary course: 1. stop if the message is acknowledged, ended or expired
 * 2. resolve any push of this delivery whose answer was lost: send it again
 * with its cid, so its msg_id is known before anything else is pushed
 * 3. read the recipient's sessions now (no session: back to the offline
 * store)  4. leave out devices the Report API already confirmed  5. record
 * the push (cid, targets, what it replaces) and the task token, then push
 * 6. read the sessions again and withdraw the push if a target device was
 * logged out of meanwhile  7. keep waiting on the token (the ACK ends the
 * wait; its timeout is the message's interval) or, when there is nothing to
 * wait for, end the step at once with the outcome.
 * A 429 (or the shared pacing, which saves it) is `paced`, never an attempt.
 * 5xx and lost answers propagate: the state machine retries the step, which
 * then resolves the recorded push with its cid.
 */
export const runPushAttempt = async (
  input: PushAttemptInput,
  deps: PushAttemptDeps
): Promise<PushAttemptResult> => {
  const result = await attemptPush(input, deps);
  if (!WAITING_OUTCOMES.includes(result.outcome)) {
    await deps.callbacks.succeed(input.taskToken, {
      outcome: result.outcome,
      ...(result.waitSeconds === undefined
        ? {}
        : { waitSeconds: result.waitSeconds }),
    });
  }
  return result;
};

/** How often a step that lost the race to record its push starts over. */
const RECORD_RACES = 3;

const attemptPush = async (
  input: PushAttemptInput,
  deps: PushAttemptDeps,
  races = 0
): Promise<PushAttemptResult> => {
  const done: PushAttemptResult = { outcome: 'done', targets: [] };
  const found = await deps.messages.get(input.messageId);
  if (!found || !isPushable(found, input.delivery)) return done;
  let message: Message = found;
  const key = attemptKey(input.delivery, input.attempt);
  // Every write of the step holds only while no later attempt has begun:
  // a step whose wait timed out while it still ran (a slow JPush, a cold
  // start) must not push, nor leave its token, after the next one started.
  const when: MessageUpdate['when'] = {
    statusIn: ['sending', 'received'],
    delivery: input.delivery,
    notAcked: true,
    attemptsAtMost: input.attempt,
  };
  try {
    const unresolved = pendingPushes(message, input.delivery);
    if (unresolved.length > 0) {
      // This attempt begins by resolving them: an ACK they bring must find
      // this step's token.
      const begun = await deps.messages.update(message.messageId, {
        set: {
          attempts: Math.max(message.attempts, input.attempt),
          taskToken: input.taskToken,
        },
        when,
      });
      if (!begun) return done;
      message = begun;
    }
    for (const [pendingKey, pending] of unresolved) {
      const resolved = await sendRecordedPush(
        message,
        pendingKey,
        pending,
        deps,
        pendingKey === key
          ? 'its earlier try got no answer or was held back'
          : 'an earlier attempt got no answer'
      );
      message = resolved.message;
      if (resolved.record.state === 'pushed') {
        await withdrawFromDevicesLeft(
          message,
          pendingKey,
          resolved.record,
          deps
        );
      }
    }

    // A retried step, or one run again after a slow step's wait ran out:
    // this attempt has pushed; wait with the new token.
    if (message.pushes[key]) return takeOver(input, key, when, deps, message);

    const now = deps.clock.now();
    const remainingSeconds = Math.floor(
      (Date.parse(message.expiresAt) - now.getTime()) / 1000
    );
    if (remainingSeconds < 1) {
      return expire(message, 'its life ended before an ACK came', deps);
    }

    const sessions = await deps.sessions.listByUser(message.to);
    if (sessions.length === 0) {
      await storeForLater(
        message,
        input.delivery + 1,
        `${message.to} has no session at push time; kept until the next login`,
        deps
      );
      return { outcome: 'stored', targets: [] };
    }

    const targets = sessions.filter(
      (s) => !message.deliveredTo[s.registrationId]
    );
    if (targets.length === 0) {
      const waiting = await deps.messages.update(message.messageId, {
        set: { attempts: input.attempt, taskToken: input.taskToken },
        timeline: [
          {
            at: now.toISOString(),
            event: 'waiting',
            detail: `attempt ${input.attempt}: JPush delivered it to every device; not pushed again, waiting for the app's ACK`,
          },
        ],
        when,
      });
      return waiting ? { outcome: 'awaiting-ack', targets: [] } : done;
    }

    const overrideMsgId = previousMsgId(message, now);
    const record: PushRecord = {
      attempt: input.attempt,
      delivery: input.delivery,
      state: 'pending',
      cid: await deps.cids.next(),
      registrationIds: targets.map((s) => s.registrationId),
      platforms: [...new Set(targets.map((s) => s.platform))].sort(),
      ttlSeconds: Math.min(remainingSeconds, MAX_TTL_SECONDS),
      ...(overrideMsgId === undefined ? {} : { overrideMsgId }),
      at: now.toISOString(),
    };
    const started = await deps.messages.update(message.messageId, {
      set: { attempts: input.attempt, taskToken: input.taskToken },
      putInMap: [{ map: 'pushes', key, value: record }],
      // Another try of this step may have recorded the attempt meanwhile (a
      // slow one whose wait ran out): its record is the push. Or the step
      // of the attempt before recorded its push after this one read the
      // message: the msg_id to replace is then that push's, so start over.
      when: {
        ...when,
        pushAbsent: key,
        pushCount: Object.keys(message.pushes).length,
      },
    });
    if (!started) {
      const now = await deps.messages.get(message.messageId);
      if (now?.pushes[key] || races >= RECORD_RACES) {
        return takeOver(input, key, when, deps, now);
      }
      return attemptPush(input, deps, races + 1);
    }
    const sent = await sendRecordedPush(started, key, record, deps);
    if (sent.record.state === 'pushed') {
      await withdrawFromDevicesLeft(sent.message, key, sent.record, deps);
    }
    return resultOf(sent.record);
  } catch (error) {
    if (error instanceof JPushRateLimitError) {
      return pace(message, input.attempt, error, deps);
    }
    if (error instanceof JPushRejectedError) {
      const failed = await deps.messages.update(message.messageId, {
        set: { status: 'failed', failureReason: error.message },
        timeline: [
          {
            at: deps.clock.now().toISOString(),
            event: 'failed',
            detail: `JPush refused the push for good (${error.code === undefined ? `HTTP ${error.httpStatus ?? '?'}` : `JPush ${error.code}`}: ${error.message})`,
          },
        ],
        when,
      });
      return failed ? { outcome: 'failed', targets: [] } : done;
    }
    throw error;
  }
};

/**
 * The attempt's push is recorded already, by an earlier try of this step or
 * by a slow one whose wait ran out meanwhile (it recorded first): this step
 * waits for it with its own token.
 */
const takeOver = async (
  input: PushAttemptInput,
  key: string,
  when: MessageUpdate['when'],
  deps: PushAttemptDeps,
  read?: Message
): Promise<PushAttemptResult> => {
  const done: PushAttemptResult = { outcome: 'done', targets: [] };
  const message = read ?? (await deps.messages.get(input.messageId));
  const earlier = message?.pushes[key];
  if (!message || !earlier || !isPushable(message, input.delivery)) {
    return done;
  }
  // A slow step whose wait ran out must not put its ended token over the
  // token of the step that runs the attempt again.
  if ((await deps.callbacks.heartbeat(input.taskToken)) === 'expired') {
    return done;
  }
  const kept = await deps.messages.update(message.messageId, {
    set: { taskToken: input.taskToken },
    when,
  });
  return kept ? resultOf(earlier) : done;
};

/**
 * JPush's window for pushes is used up: wait for it, as long as the message
 * lives. The attempt is not counted; the step runs again after the wait.
 */
const pace = async (
  message: Message,
  attempt: number,
  error: JPushRateLimitError,
  deps: PushAttemptDeps
): Promise<PushAttemptResult> => {
  const reset = error.rateLimit?.resetSeconds ?? DEFAULT_PACE_SECONDS;
  const waitSeconds =
    Math.max(1, Math.ceil(reset)) +
    Math.floor(Math.random() * (PACE_JITTER_SECONDS + 1));
  const now = deps.clock.now();
  if (now.getTime() + waitSeconds * 1000 >= Date.parse(message.expiresAt)) {
    return expire(
      message,
      `JPush's rate limit stayed used up until the message's life ended (the next window opens in ${waitSeconds} s)`,
      deps
    );
  }
  const source = error.paced ? 'the shared pacing' : 'JPush (429)';
  const paced = await deps.messages.update(message.messageId, {
    timeline: [
      {
        at: now.toISOString(),
        event: 'paced',
        detail: `attempt ${attempt}: JPush's rate limit is used up (${source}); waiting ${waitSeconds} s for the next window, not counted as an attempt`,
      },
    ],
    when: {
      statusIn: ['sending', 'received'],
      delivery: message.delivery,
      notAcked: true,
      attemptsAtMost: attempt,
    },
  });
  return paced
    ? { outcome: 'paced', waitSeconds, targets: [] }
    : { outcome: 'done', targets: [] };
};

const expire = async (
  message: Message,
  why: string,
  deps: PushAttemptDeps
): Promise<PushAttemptResult> => {
  const expired = await deps.messages.update(message.messageId, {
    set: { status: 'expired' },
    timeline: [
      { at: deps.clock.now().toISOString(), event: 'expired', detail: why },
    ],
    when: { statusIn: ['sending', 'received'], notAcked: true },
  });
  return { outcome: expired ? 'expired' : 'done', targets: [] };
};

/** Pushes of a delivery still waiting for JPush's answer, oldest first. */
const pendingPushes = (
  message: Message,
  delivery: number
): [string, PushRecord][] =>
  Object.entries(message.pushes)
    .filter(([, p]) => p.delivery === delivery && p.state === 'pending')
    .sort(([, a], [, b]) => a.attempt - b.attempt);

/**
 * The push step's half of the logout race. The sessions were read before the
 * push; a logout or an account switch may have ended one since, or a new
 * delivery of the message may have begun (which then pushes for itself). Logout
 * deletes the session first and then withdraws the pushes it finds, so a
 * push recorded after its scan is caught here: the sessions are read again
 * and the push is withdrawn if any target is no longer among them. JPush
 * withdraws a msg_id from all its targets; devices still logged in that the
 * Report API has not confirmed get the message again at the next attempt.
 */
const withdrawFromDevicesLeft = async (
  message: Message,
  key: string,
  push: PushRecord,
  deps: PushAttemptDeps
): Promise<void> => {
  // A newer delivery of the message began while this one pushed (its user
  // logged out, so it went back to the offline store, and logged in again):
  // the new delivery pushes for itself, so this copy would be a second one.
  const current = await deps.messages.get(message.messageId);
  const superseded =
    current !== undefined && current.delivery !== push.delivery;
  const now = await deps.sessions.listByUser(message.to);
  const left = push.registrationIds.filter(
    (rid) => !now.some((s) => s.registrationId === rid)
  );
  if (left.length === 0 && !superseded) return;
  const why = superseded
    ? `delivery ${current?.delivery} replaced this one while it was pushed`
    : `${message.to} left device(s) ${left.join(', ')} while it was pushed`;
  await withdrawPush(current ?? message, key, why, deps);
};

const isPushable = (message: Message, delivery: number): boolean =>
  message.delivery === delivery &&
  message.ackedAt === undefined &&
  (message.status === 'sending' || message.status === 'received') &&
  !TERMINAL_STATUSES.includes(message.status);

const resultOf = (push: PushRecord): PushAttemptResult => ({
  outcome: push.state === 'not-delivered' ? 'no-target' : 'pushed',
  ...(push.jpushMsgId === undefined ? {} : { jpushMsgId: push.jpushMsgId }),
  targets: [...push.registrationIds],
});

/** The latest accepted push that `override_msg_id` can still replace. */
const previousMsgId = (message: Message, now: Date): string | undefined => {
  const latest = Object.values(message.pushes)
    .filter((p) => p.state === 'pushed' && p.jpushMsgId !== undefined)
    .filter((p) => now.getTime() - Date.parse(p.at) < OVERRIDE_WINDOW_MS)
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
  return latest?.jpushMsgId;
};
