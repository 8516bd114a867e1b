import type { TimelineEventName } from '../shared/names.ts';
import { ackTokenFor } from './ack-token.ts';
import {
  JPushNoTargetError,
  type JPushPort,
  type Platform,
  type PushPayload,
} from './jpush.ts';
import type { Message, PushRecord } from './message.ts';
import type { Clock, MessageRepository, SigningKeySource } from './ports.ts';

/**
 * The JPush push object for a recorded push. Extras carry what the app
 * needs: `messageId` (to ACK and de-duplicate), `ackToken`, and `to` (to drop
 * a push that is not for the user now logged in). iOS notifications carry
 * `mutable-content`, so the app's Notification Service Extension can ACK,
 * and `apns_collapse_id`. Built only from the message and the record, so
 * sending a record again sends the same push.
 */
export const buildPushPayload = (
  message: Message,
  push: Pick<
    PushRecord,
    'registrationIds' | 'platforms' | 'ttlSeconds' | 'overrideMsgId' | 'cid'
  >,
  ackToken: string
): PushPayload => {
  const platforms = [...new Set(push.platforms)].sort();
  const extras: Record<string, unknown> = {
    messageId: message.messageId,
    ackToken,
    to: message.to,
    ...(message.from === undefined ? {} : { from: message.from }),
    ...(message.data === undefined ? {} : { data: message.data }),
  };
  const has = (p: Platform) => platforms.includes(p);
  return {
    platform: platforms,
    audience: { registration_id: [...push.registrationIds] },
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
              // iOS runs the app's Notification Service Extension before it
              // shows the notification, so the extension ACKs it even when
              // the app is not running and the user never opens it.
              'mutable-content': true,
              extras,
            },
          }
        : {}),
    },
    options: {
      time_to_live: push.ttlSeconds,
      // A re-push replaces the earlier copy: queued or shown on Android
      // (override_msg_id), shown on iOS (the APNs collapse id).
      ...(push.overrideMsgId === undefined
        ? {}
        : { override_msg_id: push.overrideMsgId }),
      ...(has('ios') ? { apns_collapse_id: message.messageId } : {}),
    },
    cid: push.cid,
  };
};

/** What sending a recorded push needs. */
export interface SendPushDeps {
  readonly messages: MessageRepository;
  readonly jpush: JPushPort;
  readonly ackKey: SigningKeySource;
  readonly clock: Clock;
}

/**
 * Sends a recorded push to JPush (the push object built from the message
 * and the record alone, so a second send is the same push) and records
 * JPush's answer: `pushed` with
 * the msg_id, or `not-delivered` for 1011 (JPush knows none of the devices).
 * A record sent before whose answer was lost is sent again the same way:
 * JPush recognises its cid, returns the first result and pushes nothing new.
 * @param resolving why a pending push is sent again (for the timeline), or
 * undefined for its first send
 * @returns the record as it is now, and the message after the update
 * @throws the JPush errors other than 1011 (the record stays `pending`)
 */
export const sendRecordedPush = async (
  message: Message,
  key: string,
  record: PushRecord,
  deps: SendPushDeps,
  resolving?: string
): Promise<{ record: PushRecord; message: Message }> => {
  const payload = buildPushPayload(
    message,
    record,
    ackTokenFor(await deps.ackKey.keys(), message.messageId, message.to)
  );
  const at = deps.clock.now().toISOString();
  const note =
    resolving === undefined ? '' : ` (${resolving}: sent again with its cid)`;
  let next: PushRecord;
  let detail: string;
  let event: TimelineEventName;
  try {
    const result = await deps.jpush.push(payload);
    next = { ...record, state: 'pushed', jpushMsgId: result.msgId };
    event = 'pushed';
    detail = `attempt ${record.attempt} of ${message.policy.maxAttempts}: JPush msg_id ${result.msgId} to ${record.registrationIds.length} device(s)${note}`;
  } catch (error) {
    if (!(error instanceof JPushNoTargetError)) throw error;
    next = {
      ...record,
      state: 'not-delivered',
      ...(error.msgId === undefined ? {} : { jpushMsgId: error.msgId }),
    };
    event = 'not-delivered';
    detail = `attempt ${record.attempt}: JPush ${error.code ?? 1011}: ${error.message}${error.msgId ? ` (msg_id ${error.msgId})` : ''}${note}`;
  }
  // Only the answer is written: a logout may have withdrawn the push while
  // it was on its way, and that mark stays.
  const updated = await deps.messages.update(message.messageId, {
    pushAnswer: {
      key,
      state: next.state,
      ...(next.jpushMsgId === undefined ? {} : { jpushMsgId: next.jpushMsgId }),
    },
    timeline: [
      {
        at,
        event,
        detail,
        attempt: record.attempt,
        ...(next.jpushMsgId === undefined
          ? {}
          : { jpushMsgId: next.jpushMsgId }),
      },
    ],
  });
  const recorded = updated?.pushes[key];
  return {
    record: recorded ? { ...next, ...recorded } : next,
    message: updated ?? message,
  };
};
