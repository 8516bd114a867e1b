import type {
  Message,
  MessageStatus,
  PushRecord,
  PushState,
  SmsChannel,
  TimelineEvent,
} from './message.ts';

/** A change to a stored message, applied atomically. */
export interface MessageUpdate {
  readonly set?: Partial<
    Pick<
      Message,
      | 'status'
      | 'attempts'
      | 'delivery'
      | 'ackedAt'
      | 'confirmedBy'
      | 'escalatedAt'
      | 'failureReason'
      | 'deliveredTo'
      | 'taskToken'
    >
  >;
  /** Entries to put in a map attribute. */
  readonly putInMap?: ReadonlyArray<
    | { map: 'deliveredTo'; key: string; value: string }
    | { map: 'pushes'; key: string; value: PushRecord }
    | { map: 'notified'; key: SmsChannel; value: string }
  >;
  /**
   * JPush's answer to a recorded push: its state and msg_id, set in place so
   * that what else the record holds (a withdrawal that raced the answer)
   * stays.
   */
  readonly pushAnswer?: {
    readonly key: string;
    readonly state: PushState;
    readonly jpushMsgId?: string;
  };
  /** Entries to remove from a map attribute. */
  readonly removeFromMap?: ReadonlyArray<{ map: 'deliveredTo'; key: string }>;
  /** Events appended to the timeline. */
  readonly timeline?: readonly TimelineEvent[];
  /** The update happens only when all of these hold. */
  readonly when?: {
    readonly statusIn?: readonly MessageStatus[];
    readonly delivery?: number;
    /** No ACK recorded yet. */
    readonly notAcked?: boolean;
    /** `pushes[key]` does not exist yet. */
    readonly pushAbsent?: string;
    /**
     * `pushes` still holds this many records: no other step recorded a
     * push since the message was read (the replaced msg_id is still right).
     */
    readonly pushCount?: number;
    /**
     * No later attempt has begun (`attempts` ≤ this): a Push step that
     * outlived its wait cannot act after the next attempt's step started.
     */
    readonly attemptsAtMost?: number;
  };
}

/** Messages, their status and their timeline. */
export interface MessageRepository {
  /** Stores a new message; false when one with that id already exists. */
  create(message: Message): Promise<boolean>;
  get(messageId: string): Promise<Message | undefined>;
  /**
   * Only these attributes of a message (a projection): for a step that
   * needs its state, not its content or its recipient.
   */
  getFields<K extends keyof Message>(
    messageId: string,
    fields: readonly K[]
  ): Promise<Pick<Message, K> | undefined>;
  /** The messages with these ids that exist, in no particular order. */
  getMany(messageIds: readonly string[]): Promise<Message[]>;
  /** Erases a message; false when there was none. */
  delete(messageId: string): Promise<boolean>;
  /**
   * Applies an update; resolves to the message after it, or undefined when
   * the message does not exist or a `when` condition did not hold.
   */
  update(
    messageId: string,
    update: MessageUpdate
  ): Promise<Message | undefined>;
}

/** A user logged in on a device. */
export interface Session {
  readonly userId: string;
  readonly registrationId: string;
  readonly platform: 'android' | 'ios';
  readonly since: string;
}

/** Who is logged in where. */
export interface SessionRepository {
  listByUser(userId: string): Promise<Session[]>;
  put(session: Session): Promise<void>;
  delete(userId: string, registrationId: string): Promise<void>;
}

/** The one user logged in on a device. */
export interface DeviceOwner {
  readonly registrationId: string;
  readonly userId: string;
  readonly platform: 'android' | 'ios';
  readonly since: string;
}

/** Devices and their current user. */
export interface DeviceRepository {
  get(registrationId: string): Promise<DeviceOwner | undefined>;
  /** Records the device's new owner; resolves to the previous one. */
  put(owner: DeviceOwner): Promise<DeviceOwner | undefined>;
  /** Forgets the owner if it is still `userId`. */
  deleteIfOwner(registrationId: string, userId: string): Promise<void>;
}

/** A message waiting in the offline store. */
export interface StoredMessage {
  readonly userId: string;
  /** Sort key: `${createdAt}#${messageId}`, so the oldest comes first. */
  readonly storedKey: string;
  readonly messageId: string;
  /** The delivery number the next execution will use. */
  readonly delivery: number;
  readonly expiresAt: string;
}

/** Messages for users with no session. */
export interface OfflineStore {
  put(item: StoredMessage): Promise<void>;
  /** The user's stored messages, oldest first. */
  list(userId: string): Promise<StoredMessage[]>;
  delete(userId: string, storedKey: string): Promise<void>;
}

/** One line of a user's history. */
export interface HistoryEntry {
  readonly userId: string;
  readonly messageId: string;
  readonly createdAt: string;
  /** `in` for messages the user received, `out` for sent ones. */
  readonly direction: 'in' | 'out';
  /**
   * When the message's life ends (its `expiresAt`): the entry is kept the
   * retention after it, then DynamoDB deletes it.
   */
  readonly messageExpiresAt?: string;
}

/** A page of history. */
export interface HistoryPage {
  readonly entries: HistoryEntry[];
  /** Opaque; present when there may be more. */
  readonly nextCursor?: string;
}

/** Each user's messages, newest first. */
export interface HistoryRepository {
  add(entry: HistoryEntry): Promise<void>;
  /** Erases one entry; false when there was none. */
  delete(
    entry: Pick<HistoryEntry, 'userId' | 'messageId' | 'createdAt'>
  ): Promise<boolean>;
  /** @throws InvalidCursorError when the cursor was not made by this store */
  page(userId: string, limit: number, cursor?: string): Promise<HistoryPage>;
}

/** What a delivery execution needs as input. */
export interface DeliveryRequest {
  readonly messageId: string;
  readonly delivery: number;
  readonly intervalSeconds: number;
  readonly maxAttempts: number;
}

/** Starts the delivery cycle (the state machine) for a message. */
export interface DeliveryStarter {
  /** Idempotent: the same request twice starts one execution. */
  start(request: DeliveryRequest): Promise<void>;
}

/** Source of the current time. */
export interface Clock {
  now(): Date;
}

/** The system clock. */
export const systemClock: Clock = { now: () => new Date() };

export type { SigningKeySource } from './signing-keys.ts';

/** What became of a callback sent for a Step Functions task token. */
export type CallbackResult =
  /** The waiting task got it and ends with it. */
  | 'delivered'
  /**
   * The task no longer waits (it timed out, ended, or its execution
   * stopped): Step Functions answered `TaskTimedOut`, `TaskDoesNotExist` or
   * `InvalidToken`. Harmless: whatever the callback reported is recorded
   * elsewhere.
   */
  | 'expired';

/**
 * Step Functions' callback API for `.waitForTaskToken` tasks
 * (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat). On AWS an SFN
 * client; locally, the local engine.
 */
export interface TaskCallbacks {
  /**
   * Ends the waiting task with `output` as its result (SendTaskSuccess).
   * @throws for errors other than an ended task (throttling, bad output)
   */
  succeed(taskToken: string, output: unknown): Promise<CallbackResult>;
  /** Fails the waiting task with an error name and cause (SendTaskFailure). */
  fail(
    taskToken: string,
    error: string,
    cause: string
  ): Promise<CallbackResult>;
  /** Tells the waiting task its worker is alive (SendTaskHeartbeat). */
  heartbeat(taskToken: string): Promise<CallbackResult>;
}

/** JPush `cid`s (idempotency keys), handed out one per push. */
export interface CidSource {
  /** A cid no other push has used. */
  next(): Promise<string>;
}

/** The two SMS channels of an escalation. */
export interface SmsSender {
  /** Publishes to the on-call topic (its subscribers get an SMS). */
  toOnCall(text: string): Promise<void>;
  /** Sends one SMS to a phone number (E.164). */
  toNumber(phoneNumber: string, text: string): Promise<void>;
}

/** A withdrawal that JPush has not confirmed yet (the outbox's entry). */
export interface Withdrawal {
  readonly messageId: string;
  /** The push's key in the message's `pushes` map ("delivery.attempt"). */
  readonly pushKey: string;
  /** Why it is withdrawn, for the timeline. */
  readonly why: string;
  /** The device left (a logout), whose delivery mark goes with the copy. */
  readonly registrationId?: string;
  /** Tries so far. */
  readonly tries: number;
  /** ISO time of the next try. */
  readonly nextAt: string;
  /** ISO time the push's time_to_live ends: no try after it. */
  readonly until: string;
}

/** Durable withdrawals: recorded before JPush is asked, kept until it confirms. */
export interface WithdrawalOutbox {
  put(withdrawal: Withdrawal): Promise<void>;
  delete(messageId: string, pushKey: string): Promise<void>;
  /** Entries whose next try is due at `now`, at most `limit` of them. */
  due(now: Date, limit: number): Promise<Withdrawal[]>;
}

/** Which Report API an app may use, remembered for a while. */
export interface ReportModeMemory {
  /** True while the app is known to lack the per-device status API (VIP). */
  countersOnly(now: Date): boolean;
  /** Remembers that the per-device status API is not available, until `until`. */
  rememberCountersOnly(until: Date): void;
}

/** Why an SMS was held back. */
export type SmsHoldReason = 'number-rate' | 'daily-cap';

/**
 * The SMS spend guard: a rate per recipient number (a clock hour) and a cap
 * for all SMS of a UTC day. Taking is atomic, so concurrent escalations
 * cannot overshoot a limit.
 */
export interface SmsBudget {
  /**
   * Takes one SMS from the daily cap and, when `phoneNumber` is given, from
   * that number's hourly rate.
   * @returns undefined when the SMS may go, else the limit that holds it
   */
  take(
    phoneNumber: string | undefined,
    at: Date,
    limits: { readonly perNumberPerHour: number; readonly dailyCap: number }
  ): Promise<SmsHoldReason | undefined>;
}

/** What joining the on-call window decided for one escalation. */
export interface OnCallJoin {
  /**
   * true: no window was open, so this escalation opened one and pages at
   * once; false: it joined the open window and waits for its summary SMS.
   */
  readonly page: boolean;
  readonly windowId: string;
  readonly closesAt: string;
}

/** A closed on-call window whose summary has not been sent. */
export interface OnCallWindow {
  readonly windowId: string;
  readonly openedAt: string;
  readonly closesAt: string;
  /** The message that opened it (and paged at once). */
  readonly openedBy: string;
  /** Escalations that joined after the page. */
  readonly count: number;
  /** The first of their message ids, in joining order. */
  readonly messageIds: readonly string[];
}

/**
 * The on-call windows: the first escalation pages at once and opens a
 * window; those that come while it is open are summed up in one SMS when it
 * closes.
 */
export interface OnCallGroups {
  /**
   * Joins an escalation to the open window, or opens one.
   * @param windowMs how long a new window stays open
   */
  join(messageId: string, at: Date, windowMs: number): Promise<OnCallJoin>;
  /** Closed windows with escalations not yet summed up, oldest first. */
  due(at: Date): Promise<OnCallWindow[]>;
  /**
   * Claims a due window's summary for one sender for `leaseMs` (a sender that
   * dies is replaced when the lease ends).
   * @returns the window as it now stands, or undefined when another sender
   * has it or it was sent
   */
  claim(
    windowId: string,
    at: Date,
    leaseMs: number
  ): Promise<OnCallWindow | undefined>;
  /** Records that the summary went out (or was held back for good). */
  settle(windowId: string, at: Date): Promise<void>;
  /** Gives a claimed summary back, to be tried at the next run. */
  release(windowId: string): Promise<void>;
}
