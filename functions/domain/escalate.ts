import type { Message, SmsChannel, TimelineEvent } from './message.ts';
import type {
  Clock,
  MessageRepository,
  OnCallGroups,
  SmsBudget,
  SmsHoldReason,
  SmsSender,
} from './ports.ts';
import type { SmsSettings } from './sms-limits.ts';

/** What the state machine's Escalate step passes. */
export interface EscalateInput {
  readonly messageId: string;
  readonly delivery: number;
  readonly attempt: number;
}

/** What escalating did. */
export interface EscalateResult {
  /** `done`: an ACK, another delivery or an earlier escalation came first. */
  readonly outcome: 'escalated' | 'done';
  /** SMS sent now, by channel. */
  readonly sent: SmsChannel[];
  /** SMS that failed, by channel, with the reason. */
  readonly failed: { channel: SmsChannel; reason: string }[];
  /** SMS a limit held back, by channel, with the limit. */
  readonly suppressed: { channel: SmsChannel; reason: SmsHoldReason }[];
  /** The on-call window this escalation joined instead of paging. */
  readonly groupedIn?: string;
}

/** What escalating needs. */
export interface EscalateDeps {
  readonly messages: MessageRepository;
  readonly sms: SmsSender;
  readonly smsBudget: SmsBudget;
  readonly onCallGroups: OnCallGroups;
  readonly smsSettings: SmsSettings;
  readonly clock: Clock;
}

/**
 * The on-call page of the escalation that opens a window: ids and counts,
 * and the title only when the settings ask for it (the on-call person acts
 * on the message id; its text is the user's).
 */
export const onCallText = (
  message: Message,
  attempts: number,
  settings: SmsSettings
): string => {
  const title =
    settings.onCallIncludesTitle && message.title
      ? ` Title: "${message.title.length > 60 ? `${message.title.slice(0, 57)}...` : message.title}".`
      : '';
  return `Push not acknowledged: message ${message.messageId} after ${attempts} attempt(s).${title} More within ${minutes(settings.onCallWindowSeconds)} come as one summary.`;
};

/** "5 min", "90 s". */
export const minutes = (seconds: number): string =>
  seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;

/** Words for a limit that held an SMS back. */
const HELD: Record<SmsHoldReason, (s: SmsSettings) => string> = {
  'number-rate': (s) =>
    `the number had its ${s.perNumberPerHour} SMS of this hour (the smsPerNumberPerHour limit)`,
  'daily-cap': (s) =>
    `the ${s.dailyCap} SMS of today are spent (the smsDailyCap limit)`,
};

/** Why an SMS was held back, for a timeline or a log. */
export const heldBecause = (
  reason: SmsHoldReason,
  settings: SmsSettings
): string => HELD[reason](settings);

/**
 * Escalates a message that every attempt failed to get acknowledged.
 * Primary course: 1. mark it escalated, once per delivery and never after
 * an ACK (a conditional update; a retried step finds it done)  2. tell the
 * on-call person when the message asks for it: the first escalation of a
 * window pages at once, later ones join the window's summary SMS (sent by
 * the on-call summary function when it closes)  3. SMS the recipient's
 * number when one was given  4. record each in the timeline: sent, grouped,
 * suppressed or failed.
 * Every SMS first takes from the limits (the daily cap, and a number's
 * hourly rate); one a limit holds is `sms-suppressed`, not sent.
 * Each channel is handled at most once, however often the step is retried:
 * what was done is kept in `notified`. A failing SMS is tried three times;
 * if it still fails, that is recorded, not thrown: the message stays
 * escalated.
 */
export const escalate = async (
  input: EscalateInput,
  deps: EscalateDeps
): Promise<EscalateResult> => {
  const at = () => deps.clock.now().toISOString();
  const marked = await deps.messages.update(input.messageId, {
    set: { status: 'escalated', escalatedAt: at() },
    timeline: [
      {
        at: at(),
        event: 'escalated',
        detail: `not acknowledged after ${input.attempt} attempt(s)`,
      },
    ],
    when: {
      statusIn: ['sending', 'received'],
      delivery: input.delivery,
      notAcked: true,
    },
  });
  // A retried step: the first try marked it; send what it did not.
  const message =
    marked ??
    (await deps.messages
      .get(input.messageId)
      .then((m) =>
        m?.status === 'escalated' && m.delivery === input.delivery
          ? m
          : undefined
      ));
  const result = {
    outcome: 'done' as EscalateResult['outcome'],
    sent: [] as SmsChannel[],
    failed: [] as EscalateResult['failed'],
    suppressed: [] as EscalateResult['suppressed'],
    groupedIn: undefined as string | undefined,
  };
  if (!message) return result;
  const settings = deps.smsSettings;
  const done = (channel: SmsChannel, event: TimelineEvent) =>
    deps.messages.update(message.messageId, {
      putInMap: [{ map: 'notified', key: channel, value: event.at }],
      timeline: [event],
    });

  const channels: {
    channel: SmsChannel;
    to: string;
    number?: string;
    send: () => Promise<void>;
  }[] = [];
  if (message.escalationOnCall && message.notified.onCall === undefined) {
    const group = await deps.onCallGroups.join(
      message.messageId,
      deps.clock.now(),
      settings.onCallWindowSeconds * 1000
    );
    if (group.page) {
      channels.push({
        channel: 'onCall',
        to: 'the on-call topic',
        send: () =>
          deps.sms.toOnCall(onCallText(message, input.attempt, settings)),
      });
    } else {
      result.groupedIn = group.windowId;
      await done('onCall', {
        at: at(),
        event: 'sms-grouped',
        detail: `in the on-call summary of window ${group.windowId}, sent when it closes at ${group.closesAt}`,
      });
    }
  }
  if (message.escalationSmsTo !== '') {
    channels.push({
      channel: 'recipient',
      to: "the recipient's number",
      number: message.escalationSmsTo,
      send: () => deps.sms.toNumber(message.escalationSmsTo, message.smsText),
    });
  }
  for (const { channel, to, number, send } of channels) {
    if (message.notified[channel] !== undefined) continue;
    const held = await deps.smsBudget.take(number, deps.clock.now(), settings);
    if (held !== undefined) {
      result.suppressed.push({ channel, reason: held });
      await done(channel, {
        at: at(),
        event: 'sms-suppressed',
        detail: `to ${to}: ${heldBecause(held, settings)}`,
      });
      continue;
    }
    try {
      await withRetries(send);
      result.sent.push(channel);
      await done(channel, { at: at(), event: 'sms-sent', detail: `to ${to}` });
    } catch (error) {
      const reason =
        error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
      result.failed.push({ channel, reason });
      await deps.messages.update(message.messageId, {
        timeline: [
          { at: at(), event: 'sms-failed', detail: `to ${to}: ${reason}` },
        ],
      });
    }
  }
  // A retried step sends what the first try did not, but it did not
  // escalate: the first did.
  return { ...result, outcome: marked ? 'escalated' : 'done' };
};

/** Tries a send three times, 100 ms then 300 ms apart. */
export const withRetries = async (send: () => Promise<void>): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) =>
        setTimeout(resolve, 100 * 3 ** (attempt - 1))
      );
    }
  }
};
