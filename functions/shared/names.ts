/**
 * The names that cross a boundary: what the infrastructure passes and
 * watches, what the functions read and write, what the local mode and the
 * live view show, and what the tests look for. `infra/`, `functions/`,
 * `local/` and `test/` import them from here, so the two sides of a
 * boundary cannot drift apart: renaming one renames both, and a name that
 * is not here does not type-check where a name is expected.
 */

/** The CloudWatch namespace of every custom metric (Powertools' namespace). */
export const METRICS_NAMESPACE = 'PushDelivery';

/** The `service` dimension Powertools puts on every custom metric. */
export const SERVICE_NAME = 'push-delivery';

/** The API families JPush rate-limits separately (and the pacing paces). */
export const JPUSH_FAMILIES = ['push', 'report', 'device'] as const;

/** One of {@link JPUSH_FAMILIES}. */
export type JPushFamily = (typeof JPUSH_FAMILIES)[number];

/** The dimension of the JPush call metrics: the call's family. */
export const JPUSH_FAMILY_DIMENSION = 'family';

/**
 * Metric names, PascalCase past-tense events (a time is named for what it
 * measures). Every custom metric the functions emit is named here; the
 * alarms and the dashboard watch these names only.
 */
export const METRIC = {
  /**
   * Outcomes, from the messages table's stream (outcome-metrics): a
   * message that became stored (no session: in the offline store).
   */
  MessageStored: 'MessageStored',
  /** JPush's report says a device got the message (status `received`). */
  MessageReceived: 'MessageReceived',
  /** A message confirmed (status `acknowledged`: the ACK, or the report). */
  MessageAcknowledged: 'MessageAcknowledged',
  /** A message escalated: no confirmation after every attempt. */
  MessageEscalated: 'MessageEscalated',
  /** A message whose life ended before it was delivered. */
  MessageExpired: 'MessageExpired',
  /** A message the backend cancelled. */
  MessageCancelled: 'MessageCancelled',
  /** An ACK that came after the message had ended. */
  MessageAcknowledgedLate: 'MessageAcknowledgedLate',
  /**
   * Milliseconds from the API taking a message (`createdAt`) to its
   * confirmation (`ackedAt`), once per message that became acknowledged
   * (from the messages table's stream). Time in the offline store counts.
   */
  TimeToAcknowledge: 'TimeToAcknowledge',
  /** Messages the API took (single sends and batch items). */
  MessageAccepted: 'MessageAccepted',
  /** Pushes JPush accepted (the Push step). */
  PushSent: 'PushSent',
  /** Push steps that ended `paced` (JPush's window used up). */
  PushPaced: 'PushPaced',
  /** Seconds a paced Push step's cycle waits for the window. */
  PacedWaitSeconds: 'PacedWaitSeconds',
  /** ACK calls the ACK route accepted. */
  AckReceived: 'AckReceived',
  UserLoggedIn: 'UserLoggedIn',
  UserLoggedOut: 'UserLoggedOut',
  /** Messages taken from the offline store at a login. */
  MessagesDrained: 'MessagesDrained',
  /** A login that replaced another session on the device. */
  SessionReplaced: 'SessionReplaced',
  /** Pushes withdrawn from devices (a logout, the sweeper). */
  PushesWithdrawn: 'PushesWithdrawn',
  /** Messages put back in the offline store at a logout. */
  MessagesRestored: 'MessagesRestored',
  AliasBindFailed: 'AliasBindFailed',
  AliasClearFailed: 'AliasClearFailed',
  /** Withdrawals the sweeper will try again. */
  WithdrawalsPending: 'WithdrawalsPending',
  /** Withdrawals given up (the push's time_to_live has passed). */
  WithdrawalsAbandoned: 'WithdrawalsAbandoned',
  /**
   * A JPush call that JPush answered with an error other than a 429 (5xx,
   * a refusal, bad credentials) or whose answer was lost, by
   * {@link JPUSH_FAMILY_DIMENSION}. Not 1011 (JPush knows none of the
   * devices: an answer about the devices, recorded as `not-delivered`).
   */
  JPushCallFailed: 'JPushCallFailed',
  /** A JPush call that JPush answered 429, by {@link JPUSH_FAMILY_DIMENSION}. */
  JPushRateLimited: 'JPushRateLimited',
  /**
   * Milliseconds the shared pacing held a JPush call back (its family's
   * window was used up, so the call was not made), one value per call
   * held, by {@link JPUSH_FAMILY_DIMENSION}; its sample count is the calls
   * held.
   */
  JPushPacingWait: 'JPushPacingWait',
  /** A message JPush refused for good (from the messages table's stream). */
  MessageFailed: 'MessageFailed',
  /**
   * An `sms-failed` event recorded on a message: an escalation SMS whose
   * publish failed three times (from the messages table's stream).
   */
  EscalationSmsFailed: 'EscalationSmsFailed',
  /**
   * SMS that failed in one run of the Escalate function, as that function
   * counts them (the same failures as `EscalationSmsFailed`).
   */
  SmsFailed: 'SmsFailed',
  /**
   * A request the HTTP API answered 429 (a route's limit), by `route` (the
   * route key); counted from the API access log by a metric filter, since
   * HTTP APIs have no metric of their own for 429 (it is in `4xx`).
   */
  ApiRequestThrottled: 'ApiRequestThrottled',
  /** A user erased (`DELETE /v1/users/{userId}`), whatever was found. */
  UserErased: 'UserErased',
  /** SMS the Escalate and on-call summary functions published. */
  SmsSent: 'SmsSent',
  /**
   * SMS held back by a limit (a number's hourly rate or the daily cap), as
   * the functions that held them count them.
   */
  SmsSuppressed: 'SmsSuppressed',
  /** Escalations folded into an on-call summary instead of paging alone. */
  OnCallGrouped: 'OnCallGrouped',
  /** Outcome events put on the bus (redeliveries included). */
  OutcomeEventPublished: 'OutcomeEventPublished',
  /**
   * Stream records whose outcome events could not be put on the bus this
   * time (the records are given again).
   */
  OutcomeEventFailed: 'OutcomeEventFailed',
} as const;

/**
 * The environment variables the stacks give the functions, by what they
 * carry. Every one the functions read is here; the bundle-cycle test runs
 * the bundles with exactly what the templates set.
 */
export const ENV = {
  messagesTable: 'MESSAGES_TABLE_NAME',
  sessionsTable: 'SESSIONS_TABLE_NAME',
  devicesTable: 'DEVICES_TABLE_NAME',
  offlineTable: 'OFFLINE_STORE_TABLE_NAME',
  historyTable: 'HISTORY_TABLE_NAME',
  pacingTable: 'PACING_TABLE_NAME',
  withdrawalsTable: 'WITHDRAWALS_TABLE_NAME',
  smsLimitsTable: 'SMS_LIMITS_TABLE_NAME',
  /** The delivery state machine the send and login functions start. */
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** The secret holding the key ACK tokens are signed with. */
  ackKeySecretArn: 'ACK_KEY_SECRET_ARN',
  /** The secret holding the keys history cursors are signed with. */
  cursorKeySecretArn: 'HISTORY_CURSOR_KEY_SECRET_ARN',
  /** The secret holding JPush's `appKey` and `masterSecret`. */
  jpushCredentialsSecretArn: 'JPUSH_CREDENTIALS_SECRET_ARN',
  jpushPushBaseUrl: 'JPUSH_PUSH_BASE_URL',
  jpushReportBaseUrl: 'JPUSH_REPORT_BASE_URL',
  jpushDeviceBaseUrl: 'JPUSH_DEVICE_BASE_URL',
  /** Per-call timeout of the JPush client, ms (optional). */
  jpushTimeoutMs: 'JPUSH_TIMEOUT_MS',
  /** The topic escalation SMS are published to (the on-call subscriptions). */
  onCallTopicArn: 'ON_CALL_TOPIC_ARN',
  /**
   * Days a message (and its history entries) is kept after it ends, then
   * DynamoDB's TTL deletes it ({@link DEFAULT_RETENTION_DAYS} when unset).
   */
  retentionDays: 'MESSAGE_RETENTION_DAYS',
  /**
   * `true` (the default) or `false`: whether an ACK must name a device the
   * message's current delivery pushed to (`registrationId`), or may carry
   * the token alone, as apps released before that did.
   */
  ackRequiresDevice: 'ACK_REQUIRES_DEVICE',
  /** At most this many SMS to one recipient number in a clock hour. */
  smsPerNumberPerHour: 'SMS_PER_NUMBER_PER_HOUR',
  /** At most this many SMS in a UTC day, all channels together. */
  smsDailyCap: 'SMS_DAILY_CAP',
  /** ISO 3166 country codes `smsTo` may be in, comma-separated. */
  smsCountries: 'SMS_COUNTRIES',
  /** Seconds an on-call window gathers escalations into one summary. */
  onCallWindowSeconds: 'ON_CALL_WINDOW_SECONDS',
  /** `true`: the on-call page carries the message's title. */
  onCallSmsIncludesTitle: 'ON_CALL_SMS_INCLUDES_TITLE',
  /** The EventBridge bus the outcome events are put on (its name or ARN). */
  eventBusName: 'OUTCOME_EVENT_BUS_NAME',
  /** `true`: outcome events carry the message's title, body and data. */
  eventsIncludeContent: 'OUTCOME_EVENTS_INCLUDE_CONTENT',
} as const;

/** One environment variable name of {@link ENV}. */
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** The tables, by the name the code knows them by. */
export type TableName =
  | 'messages'
  | 'sessions'
  | 'devices'
  | 'offline'
  | 'history'
  | 'pacing'
  | 'withdrawals'
  | 'smsLimits';

/** The environment variable that carries each table's name. */
export const TABLE_ENV = {
  messages: ENV.messagesTable,
  sessions: ENV.sessionsTable,
  devices: ENV.devicesTable,
  offline: ENV.offlineTable,
  history: ENV.historyTable,
  pacing: ENV.pacingTable,
  withdrawals: ENV.withdrawalsTable,
  smsLimits: ENV.smsLimitsTable,
} as const satisfies Record<TableName, EnvName>;

/** Each table's key attributes (all strings), as the data stack creates them. */
export const TABLE_KEYS = {
  messages: { partition: 'messageId' },
  sessions: { partition: 'userId', sort: 'registrationId' },
  devices: { partition: 'registrationId' },
  offline: { partition: 'userId', sort: 'storedKey' },
  history: { partition: 'userId', sort: 'sortKey' },
  pacing: { partition: 'family' },
  withdrawals: { partition: 'queue', sort: 'entryKey' },
  smsLimits: { partition: 'scope', sort: 'slot' },
} as const satisfies Record<TableName, { partition: string; sort?: string }>;

/** A table's key item, as {@link TABLE_KEYS} names its attributes. */
export type KeyOf<T extends TableName> = {
  [K in
    | (typeof TABLE_KEYS)[T]['partition']
    | ((typeof TABLE_KEYS)[T] extends { sort: infer S extends string }
        ? S
        : never)]: string;
};

/**
 * The attribute DynamoDB's time to live reads (epoch seconds), on the
 * tables that expire items: the offline store and the withdrawals outbox
 * (when their entry is of no use any more), the messages and the history
 * (the retention after the message ends). Not a message's `expiresAt`,
 * which is when its delivery gives up.
 */
export const TTL_ATTRIBUTE = 'expiresAtEpoch';

/** How many days a message is kept after it ends, unless set otherwise. */
export const DEFAULT_RETENTION_DAYS = 30;

/** Where a message is in its life (`status` in the API and the table). */
export const MESSAGE_STATUSES = [
  'stored',
  'sending',
  'received',
  'acknowledged',
  'escalated',
  'expired',
  'failed',
  /** The backend cancelled it (`DELETE /v1/messages/{messageId}`). */
  'cancelled',
] as const;

/** One of {@link MESSAGE_STATUSES}. */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * What confirms a message (`policy.confirmBy`): the app's ACK (the
 * default), JPush's report that a device got it, or either one.
 */
export const CONFIRM_POLICIES = ['ack', 'report', 'ackOrReport'] as const;

/** One of {@link CONFIRM_POLICIES}. */
export type ConfirmPolicy = (typeof CONFIRM_POLICIES)[number];

/**
 * What confirmed an acknowledged message (`confirmedBy` in the API and
 * on its `acknowledged` timeline event).
 */
export const CONFIRMATIONS = ['ack', 'report'] as const;

/** One of {@link CONFIRMATIONS}. */
export type Confirmation = (typeof CONFIRMATIONS)[number];

/**
 * What the Push step ends with (`$.push.outcome` in the state machine).
 * `acknowledged` comes from the ACK function, which ends the step's wait
 * through its task token; the others from the Push function.
 */
export const PUSH_OUTCOMES = [
  /** JPush accepted the push; the step waits for the ACK or the interval. */
  'pushed',
  /** JPush knows none of the devices (1011); the step waits. */
  'no-target',
  /** Every device already has it (Report API): no new push, the step waits. */
  'awaiting-ack',
  /** Nothing to do any more: acknowledged, ended, or superseded. */
  'done',
  /** The recipient has no session: back in the offline store. */
  'stored',
  /** The message's life ended. */
  'expired',
  /** JPush refused the push for good; the message is `failed`. */
  'failed',
  /**
   * JPush's rate-limit window is used up: the same attempt runs again after
   * `waitSeconds`. Not an attempt: it never leads to escalation.
   */
  'paced',
  /** The app's ACK ended the wait (sent by the ACK function). */
  'acknowledged',
] as const;

/** One of {@link PUSH_OUTCOMES}. */
export type PushOutcome = (typeof PUSH_OUTCOMES)[number];

/** What CheckReport decides (`$.cycle.action` in the state machine). */
export const CYCLE_ACTIONS = [
  /** Push again (attempt + 1), or wait again if every device has it. */
  'push',
  /** Every attempt is used and no ACK came. */
  'escalate',
  /**
   * The app's ACK came meanwhile, or JPush's report confirmed the message
   * (`policy.confirmBy` `report` or `ackOrReport`).
   */
  'acknowledged',
  /** Ended elsewhere: stored again, expired, failed or superseded. */
  'done',
] as const;

/** One of {@link CYCLE_ACTIONS}. */
export type CycleAction = (typeof CYCLE_ACTIONS)[number];

/**
 * The events of a message's timeline (`timeline[].event` in the API), in
 * roughly the order a message meets them.
 */
export const TIMELINE_EVENTS = [
  /** The API took the message. */
  'accepted',
  /** The recipient had no session: kept in the offline store. */
  'stored',
  /** Taken from the offline store at a login. */
  'drained',
  /** JPush accepted a push (`attempt`, `jpushMsgId`). */
  'pushed',
  /** JPush knew none of the devices (1011). */
  'not-delivered',
  /** JPush kept failing through the Push step's retries. */
  'push-failed',
  /** JPush's rate-limit window was used up: the attempt waits for it. */
  'paced',
  /** What the Report API said about an attempt. */
  'report',
  /** Every device already has it: no new push, the wait goes on. */
  'waiting',
  /** The same attempt runs again (its step never began). */
  'retrying',
  /**
   * The message is confirmed: the app's ACK came, or JPush's report under
   * `policy.confirmBy` `report` / `ackOrReport` (`confirmedBy` says which).
   */
  'acknowledged',
  /** An ACK for a message already ended. */
  'late-ack',
  /** A push withdrawn from a device that changed hands (logout, login). */
  'withdrawn',
  /** A withdrawal JPush failed: it is retried. */
  'withdraw-failed',
  /**
   * Withdrawals stopped after failures: the push's time_to_live has passed,
   * so JPush no longer delivers it.
   */
  'withdraw-ended',
  /** No ACK after every attempt: the on-call person is told. */
  'escalated',
  /** An escalation SMS was published. */
  'sms-sent',
  /** An escalation SMS could not be published. */
  'sms-failed',
  /** An escalation SMS held back by a limit (a number's rate, the daily cap). */
  'sms-suppressed',
  /** The on-call page is part of a summary SMS at its window's end. */
  'sms-grouped',
  /** The message's life ended before it was delivered. */
  'expired',
  /** JPush refused the message for good. */
  'failed',
  /**
   * The backend cancelled it: the cycle stopped, what was pushed and not
   * acknowledged is withdrawn.
   */
  'cancelled',
] as const;

/** One of {@link TIMELINE_EVENTS}. */
export type TimelineEventName = (typeof TIMELINE_EVENTS)[number];

/** The `source` of every outcome event (EventBridge's `source`). */
export const OUTCOME_EVENT_SOURCE = 'push-delivery';

/**
 * The `detail-type` of each outcome event, by what happened to the message:
 * one per status it takes, `Message Accepted` when the API took it, and
 * `Message Acknowledged Late` for an ACK after it had ended.
 */
export const OUTCOME_EVENT_TYPES = {
  accepted: 'Message Accepted',
  stored: 'Message Stored',
  sending: 'Message Sending',
  received: 'Message Received',
  acknowledged: 'Message Acknowledged',
  escalated: 'Message Escalated',
  expired: 'Message Expired',
  failed: 'Message Failed',
  cancelled: 'Message Cancelled',
  'late-ack': 'Message Acknowledged Late',
} as const satisfies Record<MessageStatus | 'accepted' | 'late-ack', string>;

/** What an outcome event says happened (a key of {@link OUTCOME_EVENT_TYPES}). */
export type OutcomeKind = keyof typeof OUTCOME_EVENT_TYPES;

/** One `detail-type` of {@link OUTCOME_EVENT_TYPES}. */
export type OutcomeEventType = (typeof OUTCOME_EVENT_TYPES)[OutcomeKind];
