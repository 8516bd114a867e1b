/**
 * The local mode's live events: what the console prints and the live page
 * shows. Every event is derived from something that already happened in the
 * system (a message's stored timeline and status, the sessions table, the
 * JPush simulator's deliveries, the SMS sink, the state machine's executions);
 * nothing here invents one.
 */

import type { MessageStatus } from '../../functions/domain/message.ts';
import type { TimelineEventName } from '../../functions/shared/names.ts';

/** A message's status, as stored. */
export type LiveMessageStatus = MessageStatus;

/** What an event is about, before the bus numbers it. */
export type LiveEventBody =
  | {
      /** A new entry in a message's stored timeline. */
      readonly kind: 'timeline';
      readonly at: string;
      readonly messageId: string;
      readonly to: string;
      /** The timeline's event name: accepted, pushed, report, … */
      readonly event: TimelineEventName;
      readonly detail?: string;
    }
  | {
      /** A message's stored status changed. */
      readonly kind: 'status';
      readonly at: string;
      readonly messageId: string;
      readonly to: string;
      readonly previous: LiveMessageStatus;
      readonly status: LiveMessageStatus;
    }
  | {
      /** A session appeared in (login) or left (logout) the sessions table. */
      readonly kind: 'session';
      readonly at: string;
      readonly action: 'login' | 'logout';
      readonly userId: string;
      readonly registrationId: string;
      readonly platform?: string;
    }
  | {
      /** A simulated phone received a push. */
      readonly kind: 'delivered';
      readonly at: string;
      readonly registrationId: string;
      readonly msgId: string;
      readonly messageId?: string;
      readonly to?: string;
      readonly title?: string;
      readonly alert: string;
    }
  | {
      /** The SMS sink recorded an SMS. */
      readonly kind: 'sms';
      readonly at: string;
      readonly to: string;
      readonly text: string;
    }
  | {
      /** A simulated phone was created or changed through `/local/devices`. */
      readonly kind: 'device';
      readonly at: string;
      readonly registrationId: string;
      readonly online: boolean;
      readonly autoAck: boolean;
      readonly alias: string | null;
      readonly created: boolean;
    }
  | {
      /** A delivery execution ended abnormally (failed, aborted, timed out). */
      readonly kind: 'execution';
      readonly at: string;
      readonly name: string;
      readonly outcome: 'failed' | 'aborted' | 'timed-out';
      readonly error?: string;
      readonly cause?: string;
    };

/** An event as the bus publishes it: numbered, with its readable line. */
export type LiveEvent = LiveEventBody & {
  /** Increases by one per event; the SSE event id. */
  readonly seq: number;
  /** Short label: accepted, pushed, login, sms, … */
  readonly label: string;
  /** What it is about: a message id, a user, a phone, a phone number. */
  readonly subject: string;
  /** The rest of the readable line. */
  readonly text: string;
};

/** Called for every published event. */
export type LiveListener = (event: LiveEvent) => void;

/** How the console and the live page name the events whose name is terse. */
export const TIMELINE_LABELS: Partial<Record<TimelineEventName, string>> = {
  'late-ack': 'late ACK',
  'not-delivered': 'not delivered',
  'push-failed': 'push failed',
  'sms-sent': 'SMS sent',
  'sms-failed': 'SMS failed',
  report: 'report checked',
};

/**
 * The readable parts of an event, shared by the console and the live page.
 * @param event the event
 */
export const describeEvent = (
  event: LiveEventBody
): { label: string; subject: string; text: string } => {
  switch (event.kind) {
    case 'timeline':
      return {
        label: TIMELINE_LABELS[event.event] ?? event.event,
        subject: event.messageId,
        text: event.detail ?? '',
      };
    case 'status':
      return {
        label: 'status',
        subject: event.messageId,
        text: `${event.previous} → ${event.status}`,
      };
    case 'session':
      return event.action === 'login'
        ? {
            label: 'login',
            subject: event.userId,
            text: `logged in on phone ${event.registrationId}${event.platform ? ` (${event.platform})` : ''}`,
          }
        : {
            label: 'logout',
            subject: event.userId,
            text: `session on phone ${event.registrationId} ended`,
          };
    case 'delivered':
      return {
        label: 'on phone',
        subject: event.messageId ?? `msg_id ${event.msgId}`,
        text: `phone ${event.registrationId} received JPush msg_id ${event.msgId}${event.to ? ` for ${event.to}` : ''}: ${quote(event.title, event.alert)}`,
      };
    case 'sms':
      return {
        label: 'SMS',
        subject: event.to,
        text: quote(undefined, event.text),
      };
    case 'device':
      return {
        label: 'phone',
        subject: event.registrationId,
        text: `${event.created ? 'created, ' : ''}${event.online ? 'online' : 'offline'}${event.autoAck ? ', acknowledges what it receives' : ', does not acknowledge'}${event.alias ? `, alias ${event.alias}` : ''}`,
      };
    case 'execution':
      return {
        label: `execution ${event.outcome}`,
        subject: event.name,
        text: [event.error, event.cause].filter(Boolean).join(': '),
      };
  }
};

const quote = (title: string | undefined, text: string): string => {
  const full = title ? `${title}: ${text}` : text;
  return `"${full.length > 80 ? `${full.slice(0, 77)}...` : full}"`;
};

/** Options of {@link LiveEventBus}. */
export interface LiveEventBusOptions {
  /**
   * How long an event is held before it is published, in ms, so that events
   * observed out of order by different sources (a phone receiving a push a
   * moment before the push is written to the timeline) come out in the
   * order they happened. @default 500
   */
  readonly holdMs?: number;
  /** How many published events are kept for late subscribers. @default 500 */
  readonly keep?: number;
}

/**
 * Numbers, orders and publishes live events; keeps the recent ones so a page
 * that connects late can show what happened.
 */
export class LiveEventBus {
  readonly #listeners = new Set<LiveListener>();
  readonly #recent: LiveEvent[] = [];
  #pending: Array<{ body: LiveEventBody; arrived: number }> = [];
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #holdMs: number;
  readonly #keep: number;

  /** @param options hold time and how many events to keep */
  constructor(options: LiveEventBusOptions = {}) {
    this.#holdMs = options.holdMs ?? 500;
    this.#keep = options.keep ?? 500;
  }

  /**
   * Queues an event; it is published after the hold time, ordered by `at`
   * with the events queued around it.
   * @param body the event
   */
  emit(body: LiveEventBody): void {
    this.#pending.push({ body, arrived: Date.now() });
    this.#timer ??= setInterval(() => this.#flush(false), 50);
  }

  /**
   * Calls `listener` for every event published from now on.
   * @param listener receives each event
   * @returns a function that removes the listener
   */
  subscribe(listener: LiveListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * The recent published events, oldest first.
   * @param afterSeq only events with a larger `seq`
   */
  recent(afterSeq = 0): LiveEvent[] {
    return this.#recent.filter((e) => e.seq > afterSeq);
  }

  /** Publishes everything still held and stops the timer. */
  close(): void {
    this.#flush(true);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #flush(all: boolean): void {
    const cutoff = Date.now() - this.#holdMs;
    const due = all
      ? this.#pending
      : this.#pending.filter((p) => p.arrived <= cutoff);
    if (due.length === 0) {
      if (this.#pending.length === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
      return;
    }
    this.#pending = all ? [] : this.#pending.filter((p) => p.arrived > cutoff);
    // A stable sort: events of one source keep their order on equal times,
    // except that a phone's change (going online) comes before what the
    // change caused at the same instant (receiving its queued pushes).
    due.sort(
      (a, b) =>
        a.body.at.localeCompare(b.body.at) ||
        Number(b.body.kind === 'device') - Number(a.body.kind === 'device')
    );
    for (const { body } of due) {
      this.#seq += 1;
      const event: LiveEvent = {
        ...body,
        seq: this.#seq,
        ...describeEvent(body),
      };
      this.#recent.push(event);
      if (this.#recent.length > this.#keep) this.#recent.shift();
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          console.error('live events: a listener threw', error);
        }
      }
    }
  }
}
