import { ackTokenFor } from './ack-token.ts';
import { type DispatchDeps, storeForLater } from './dispatch.ts';
import {
  JPushNoTargetError,
  type JPushPort,
  type Platform,
  type PushPayload,
} from './jpush.ts';
import {
  attemptKey,
  type Message,
  type PushRecord,
  TERMINAL_STATUSES,
} from './message.ts';
import type { AckKeySource, Session } from './ports.ts';
import { tryJPush } from './sessions.ts';

/** What the state machine's Push step passes. */
export interface PushAttemptInput {
  readonly messageId: string;
  readonly delivery: number;
  readonly attempt: number;
}

/** What happened in this attempt. */
export type PushOutcome =
  /** JPush accepted the push for `targets`. */
  | 'pushed'
  /** JPush knows none of the devices (1011). */
  | 'no-target'
  /** Every device already has it (Report API); no new push, waiting for the ACK. */
  | 'awaiting-ack'
  /** Nothing to do any more: acknowledged, ended, or superseded. */
  | 'done'
  /** The recipient has no session: back in the offline store. */
  | 'stored'
  /** The message's life ended. */
  | 'expired';

/** The Push step's result, which the Check Report step reads. */
export interface PushAttemptResult {
  readonly outcome: PushOutcome;
  readonly jpushMsgId?: string;
  readonly targets: string[];
  /** yyyy-mm-dd of the push in JPush's time zone, for the Report API. */
  readonly pushDate?: string;
}

/** What a push attempt needs. */
export interface PushAttemptDeps extends DispatchDeps {
  readonly jpush: JPushPort;
  readonly ackKey: AckKeySource;
}

/** JPush keeps offline messages at most 10 days (reference §2.5). */
const MAX_TTL_SECONDS = 864_000;
/** `override_msg_id` only works within a day of the first push (§2.5). */
const OVERRIDE_WINDOW_MS = 86_400_000 - 600_000;

/**
 * JPush's Report API works by calendar day in China Standard Time (UTC+8),
 * where JPush runs; a push at 23:30 UTC is "tomorrow" there.
 */
export const jpushDate = (at: Date): string =>
  new Date(at.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);

/**
 * One push attempt of the delivery cycle.
 * Primary course: 1. stop if the message is acknowledged, ended or expired
 * 2. read the recipient's sessions now (no session: back to the offline
 * store)  3. leave out devices the Report API already confirmed  4. fix the
 * attempt's JPush `cid` once, so a retried step cannot push twice  5. push
 * to the registration ids, replacing the previous copy (`override_msg_id`)
 * 6. record the push in the timeline  7. read the sessions again and
 * withdraw the push if a target device was logged out of meanwhile.
 * Retryable JPush errors propagate (the state machine retries them with
 * backoff); 1011 is an outcome, not an error.
 * @throws JPushRejectedError when JPush refuses the push for good
 */
export const runPushAttempt = async (
  input: PushAttemptInput,
  deps: PushAttemptDeps
): Promise<PushAttemptResult> => {
  const now = deps.clock.now();
  const at = now.toISOString();
  const done: PushAttemptResult = { outcome: 'done', targets: [] };
  const message = await deps.messages.get(input.messageId);
  if (!message || !isPushable(message, input.delivery)) return done;

  const key = attemptKey(input.delivery, input.attempt);
  const earlier = message.pushes[key];
  if (earlier) return pushedResult(earlier);

  const remainingSeconds = Math.floor(
    (Date.parse(message.expiresAt) - now.getTime()) / 1000
  );
  if (remainingSeconds < 1) {
    const expired = await deps.messages.update(message.messageId, {
      set: { status: 'expired' },
      timeline: [
        { at, event: 'expired', detail: 'its life ended before an ACK came' },
      ],
      when: { statusIn: ['sending', 'received'], notAcked: true },
    });
    return expired ? { outcome: 'expired', targets: [] } : done;
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
  const when = {
    statusIn: ['sending', 'received'] as const,
    delivery: input.delivery,
    notAcked: true,
  };
  if (targets.length === 0) {
    const waiting = await deps.messages.update(message.messageId, {
      set: { attempts: input.attempt },
      timeline: [
        {
          at,
          event: 'waiting',
          detail: `attempt ${input.attempt}: JPush delivered it to every device; not pushed again, waiting for the app's ACK`,
        },
      ],
      when: { ...when, statusIn: [...when.statusIn] },
    });
    return waiting ? { outcome: 'awaiting-ack', targets: [] } : done;
  }

  const cid = message.cids[key] ?? (await deps.jpush.getCids(1))[0];
  const started = await deps.messages.update(message.messageId, {
    set: { attempts: input.attempt },
    ...(cid === undefined
      ? {}
      : { putInMap: [{ map: 'cids', key, value: cid, onlyIfAbsent: true }] }),
    when: { ...when, statusIn: [...when.statusIn] },
  });
  if (!started) return done;

  const payload = buildPushPayload(started, targets, {
    ackToken: ackTokenFor(
      await deps.ackKey.key(),
      message.messageId,
      message.to
    ),
    ttlSeconds: Math.min(remainingSeconds, MAX_TTL_SECONDS),
    overrideMsgId: previousMsgId(started, now),
    cid: started.cids[key],
  });
  const rids = targets.map((s) => s.registrationId);
  try {
    const result = await deps.jpush.push(payload);
    const record: PushRecord = {
      attempt: input.attempt,
      delivery: input.delivery,
      jpushMsgId: result.msgId,
      registrationIds: rids,
      at,
    };
    await deps.messages.update(message.messageId, {
      putInMap: [{ map: 'pushes', key, value: record }],
      timeline: [
        {
          at,
          event: 'pushed',
          detail: `attempt ${input.attempt} of ${message.policy.maxAttempts}: JPush msg_id ${result.msgId} to ${rids.length} device(s)`,
        },
      ],
      when: { pushAbsent: key },
    });
    await withdrawFromDevicesLeft(message, record, deps);
    return pushedResult(record);
  } catch (error) {
    if (!(error instanceof JPushNoTargetError)) throw error;
    await deps.messages.update(message.messageId, {
      timeline: [
        {
          at,
          event: 'not-delivered',
          detail: `attempt ${input.attempt}: JPush ${error.code ?? 1011}: ${error.message}${error.msgId ? ` (msg_id ${error.msgId})` : ''}`,
        },
      ],
    });
    return { outcome: 'no-target', targets: [] };
  }
};

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
  const failed = await tryJPush(() => deps.jpush.withdraw(push.jpushMsgId));
  const outcome =
    failed === undefined
      ? 'withdrawn'
      : `not withdrawn (${failed.code === undefined ? '' : `JPush ${failed.code}: `}${failed.message})`;
  await deps.messages.update(message.messageId, {
    timeline: [
      {
        at: deps.clock.now().toISOString(),
        event: 'withdrawn',
        detail: `attempt ${push.attempt}: ${why}; JPush msg_id ${push.jpushMsgId} ${outcome}`,
      },
    ],
  });
};

const isPushable = (message: Message, delivery: number): boolean =>
  message.delivery === delivery &&
  message.ackedAt === undefined &&
  (message.status === 'sending' || message.status === 'received') &&
  !TERMINAL_STATUSES.includes(message.status);

const pushedResult = (push: PushRecord): PushAttemptResult => ({
  outcome: 'pushed',
  jpushMsgId: push.jpushMsgId,
  targets: [...push.registrationIds],
  pushDate: jpushDate(new Date(push.at)),
});

/** The latest accepted push that `override_msg_id` can still replace. */
const previousMsgId = (message: Message, now: Date): string | undefined => {
  const latest = Object.values(message.pushes)
    .filter((p) => now.getTime() - Date.parse(p.at) < OVERRIDE_WINDOW_MS)
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
  return latest?.jpushMsgId;
};

/**
 * The JPush push object for a message. Extras carry what the app needs:
 * `messageId` (to ACK and de-duplicate), `ackToken`, and `to` (to drop a
 * push that is not for the user now logged in).
 */
export const buildPushPayload = (
  message: Message,
  targets: readonly Session[],
  options: {
    ackToken: string;
    ttlSeconds: number;
    overrideMsgId?: string;
    cid?: string;
  }
): PushPayload => {
  const platforms = [...new Set(targets.map((s) => s.platform))].sort();
  const extras: Record<string, unknown> = {
    messageId: message.messageId,
    ackToken: options.ackToken,
    to: message.to,
    ...(message.from === undefined ? {} : { from: message.from }),
    ...(message.data === undefined ? {} : { data: message.data }),
  };
  const has = (p: Platform) => platforms.includes(p);
  return {
    platform: platforms,
    audience: { registration_id: targets.map((s) => s.registrationId) },
    notification: {
      ...(has('android')
        ? {
            android: {
              alert: message.body,
              ...(message.title === undefined ? {} : { title: message.title }),
              extras,
            },
          }
        : {}),
      ...(has('ios')
        ? {
            ios: {
              alert:
                message.title === undefined
                  ? message.body
                  : { title: message.title, body: message.body },
              sound: 'default',
              extras,
            },
          }
        : {}),
    },
    options: {
      time_to_live: options.ttlSeconds,
      // A re-push replaces the earlier copy: queued or shown on Android
      // (override_msg_id), shown on iOS (the APNs collapse id).
      ...(options.overrideMsgId === undefined
        ? {}
        : { override_msg_id: options.overrideMsgId }),
      ...(has('ios') ? { apns_collapse_id: message.messageId } : {}),
    },
    ...(options.cid === undefined ? {} : { cid: options.cid }),
  };
};
