import type { Message, SmsChannel } from './message.ts';
import type { Clock, MessageRepository, SmsSender } from './ports.ts';

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
}

/** What escalating needs. */
export interface EscalateDeps {
  readonly messages: MessageRepository;
  readonly sms: SmsSender;
  readonly clock: Clock;
}

/** The on-call SMS for a message that was not acknowledged. */
export const onCallText = (message: Message, attempts: number): string =>
  `Push not acknowledged: message ${message.messageId} to user ${message.to} after ${attempts} attempt(s). Text: ${message.smsText}`;

/**
 * Escalates a message that every attempt failed to get acknowledged.
 * Primary course: 1. mark it escalated, once per delivery and never after
 * an ACK (a conditional update; a retried step finds it done)  2. SMS the
 * on-call topic when the message asks for it  3. SMS the recipient's number
 * when one was given  4. record each SMS in the timeline, sent or failed.
 * Each channel is sent at most once, however often the step is retried:
 * what was sent is kept in `notified`. A failing SMS is tried three times;
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
  const result: EscalateResult = { outcome: 'done', sent: [], failed: [] };
  if (!message) return result;

  const channels: {
    channel: SmsChannel;
    to: string;
    send: () => Promise<void>;
  }[] = [];
  if (message.escalationOnCall) {
    channels.push({
      channel: 'onCall',
      to: 'the on-call topic',
      send: () => deps.sms.toOnCall(onCallText(message, input.attempt)),
    });
  }
  if (message.escalationSmsTo !== '') {
    channels.push({
      channel: 'recipient',
      to: `the recipient at ${message.escalationSmsTo}`,
      send: () => deps.sms.toNumber(message.escalationSmsTo, message.smsText),
    });
  }
  for (const { channel, to, send } of channels) {
    if (message.notified[channel] !== undefined) continue;
    try {
      await withRetries(send);
      result.sent.push(channel);
      await deps.messages.update(message.messageId, {
        putInMap: [{ map: 'notified', key: channel, value: at() }],
        timeline: [{ at: at(), event: 'sms-sent', detail: `to ${to}` }],
      });
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
const withRetries = async (send: () => Promise<void>): Promise<void> => {
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
