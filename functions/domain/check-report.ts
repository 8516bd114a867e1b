import type { CycleAction } from '../shared/names.ts';
import {
  DeliveryStatus,
  JPushError,
  type JPushPort,
  JPushRejectedError,
} from './jpush.ts';
import {
  attemptKey,
  type Message,
  type PushRecord,
  reportConfirms,
} from './message.ts';
import type { Clock, MessageRepository, ReportModeMemory } from './ports.ts';
import { jpushDate } from './push-attempt.ts';

/** How the Push step's wait ended, as its Catch hands it on. */
export interface WaitEnd {
  /** `States.Timeout`: the interval passed without an ACK. Else the error. */
  readonly Error?: string;
  readonly Cause?: string;
}

/** What the state machine's Check Report step passes. */
export interface CheckReportInput {
  readonly messageId: string;
  readonly delivery: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly wait?: WaitEnd;
}

export type { CycleAction } from '../shared/names.ts';

/** The decision, which the state machine's Decide state reads. */
export interface CheckReportResult {
  readonly action: CycleAction;
  /** The attempt the next Push step runs. */
  readonly attempt: number;
  /** Registration ids JPush delivered to. */
  readonly delivered: string[];
  /** Registration ids JPush has not delivered to (yet). */
  readonly pending: string[];
}

/** What checking a report needs. */
export interface CheckReportDeps {
  readonly messages: MessageRepository;
  readonly jpush: JPushPort;
  readonly clock: Clock;
  readonly reportMode: ReportModeMemory;
}

/**
 * What the check reads of a message (a projection): its state, its pushes
 * and its policy (what confirms it), never its content, its recipient or
 * its phone number.
 */
const CHECK_FIELDS = [
  'messageId',
  'status',
  'ackedAt',
  'delivery',
  'attempts',
  'pushes',
  'expiresAt',
  'policy',
] as const satisfies readonly (keyof Message)[];

/** A message as the check reads it. */
type CheckedMessage = Pick<Message, (typeof CHECK_FIELDS)[number]>;

/** Codes JPush gives apps that may not use the per-device status API. */
const NOT_VIP_CODES = new Set([2003, 2006, 2007]);
/** How long an app without the status API is remembered as such. */
const COUNTERS_ONLY_MS = 3_600_000;

const STATUS_TEXT: Record<number, string> = {
  [DeliveryStatus.delivered]: 'delivered',
  [DeliveryStatus.notDelivered]: 'not delivered',
  [DeliveryStatus.notThisApp]: 'not a device of this app',
  [DeliveryStatus.notTarget]: 'not a target',
  [DeliveryStatus.systemError]: 'JPush system error',
};

/**
 * The cycle's check after a push step's wait ended without an ACK.
 * Primary course: 1. stop if the ACK came meanwhile, or the message ended
 * or moved on to another delivery  2. a push step that failed after its
 * retries is recorded as such (the attempt counts)  3. otherwise ask JPush's
 * Report API whether the attempt's push reached each device, and record the
 * devices that have it (they are not pushed again)  4. decide: push again
 * while attempts are left, else escalate.
 * Under `policy.confirmBy` `report` or `ackOrReport`, a report that a
 * device got the push confirms the message: it ends `acknowledged` with
 * `confirmedBy: "report"` (and its `acknowledged` event says so), and the
 * cycle ends as after an ACK. Under `ack` (the default) the report only
 * spares the devices that have it a new push.
 * Apps without the VIP status API fall back to the delivery counters of
 * `/v3/received/detail` (all devices count as delivered only when the
 * counters, vendor channels included, cover them all, so under `report`
 * the counters confirm only then); that is remembered
 * for an hour. A Report API that fails or is rate-limited does not stop the
 * cycle: the decision is then made on the ACK alone.
 */
export const checkReport = async (
  input: CheckReportInput,
  deps: CheckReportDeps
): Promise<CheckReportResult> => {
  const none = { delivered: [], pending: [] };
  const decide = (action: CycleAction, attempt = input.attempt) => ({
    action,
    attempt,
    ...none,
  });
  const message = await deps.messages.getFields(input.messageId, CHECK_FIELDS);
  const state = stateOf(message, input.delivery);
  if (state !== 'in-flight') return decide(state);
  const current = message as CheckedMessage;
  const at = deps.clock.now().toISOString();

  let delivered: string[] = [];
  let pending: string[] = [];
  let latest: CheckedMessage | undefined = current;
  const waitError = input.wait?.Error;
  const key = attemptKey(input.delivery, input.attempt);
  if (
    (waitError === undefined || waitError === 'States.Timeout') &&
    current.pushes[key] === undefined &&
    current.attempts < input.attempt
  ) {
    return notBegun(current, input, deps);
  }
  if (waitError !== undefined && waitError !== 'States.Timeout') {
    latest = await deps.messages.update(current.messageId, {
      timeline: [
        {
          at,
          event: 'push-failed',
          detail: `attempt ${input.attempt}: JPush still failing after retries (${waitError}); ${input.attempt < input.maxAttempts ? 'the next attempt will try again' : 'no attempt left'}`,
        },
      ],
      when: { delivery: input.delivery },
    });
  } else {
    const push = current.pushes[key];
    if (push?.state === 'pushed' && push.jpushMsgId !== undefined) {
      const report = await askReport(current, input, push, deps);
      delivered = report.delivered;
      pending = report.pending;
      latest = report.message;
    }
  }
  const after = stateOf(latest ?? current, input.delivery);
  if (after !== 'in-flight') return { ...decide(after), delivered, pending };
  return input.attempt >= input.maxAttempts
    ? { action: 'escalate', attempt: input.attempt, delivered, pending }
    : { action: 'push', attempt: input.attempt + 1, delivered, pending };
};

/**
 * The Push step's wait ran out before the step had begun its attempt (a
 * cold start, a slow DynamoDB or a JPush that held the step past the
 * interval): nothing was pushed, so the attempt is not counted and runs
 * again, as long as the message lives.
 */
const notBegun = async (
  message: CheckedMessage,
  input: CheckReportInput,
  deps: CheckReportDeps
): Promise<CheckReportResult> => {
  const none = { delivered: [], pending: [] };
  const now = deps.clock.now();
  const when = {
    statusIn: ['sending', 'received'] as Message['status'][],
    delivery: input.delivery,
    notAcked: true,
    attemptsAtMost: input.attempt - 1,
  };
  if (now.getTime() >= Date.parse(message.expiresAt)) {
    await deps.messages.update(message.messageId, {
      set: { status: 'expired' },
      timeline: [
        {
          at: now.toISOString(),
          event: 'expired',
          detail: `attempt ${input.attempt} never began before the message's life ended`,
        },
      ],
      when,
    });
    return { action: 'done', attempt: input.attempt, ...none };
  }
  const noted = await deps.messages.update(message.messageId, {
    timeline: [
      {
        at: now.toISOString(),
        event: 'retrying',
        detail: `attempt ${input.attempt}: the push step had not begun when its wait of the interval ran out; running it again, not counted as an attempt`,
      },
    ],
    when,
  });
  if (!noted) {
    const latest = await deps.messages.getFields(
      message.messageId,
      CHECK_FIELDS
    );
    const state = stateOf(latest, input.delivery);
    if (state !== 'in-flight')
      return { action: state, attempt: input.attempt, ...none };
  }
  return { action: 'push', attempt: input.attempt, ...none };
};

const stateOf = (
  message: Pick<Message, 'status' | 'ackedAt' | 'delivery'> | undefined,
  delivery: number
): 'in-flight' | 'acknowledged' | 'done' => {
  if (!message) return 'done';
  if (message.status === 'acknowledged') return 'acknowledged';
  if (message.ackedAt !== undefined) return 'done';
  if (message.delivery !== delivery) return 'done';
  return message.status === 'sending' || message.status === 'received'
    ? 'in-flight'
    : 'done';
};

const askReport = async (
  message: CheckedMessage,
  input: CheckReportInput,
  push: PushRecord,
  deps: CheckReportDeps
): Promise<{
  delivered: string[];
  pending: string[];
  message?: CheckedMessage;
}> => {
  const msgId = push.jpushMsgId as string;
  const targets = push.registrationIds;
  const at = deps.clock.now().toISOString();
  let statuses: Record<string, number>;
  try {
    statuses = await perDeviceStatus(msgId, targets, push, deps);
  } catch (error) {
    if (!(error instanceof JPushError)) throw error;
    const updated = await deps.messages.update(message.messageId, {
      timeline: [
        {
          at,
          event: 'report',
          detail: `attempt ${input.attempt}, JPush msg_id ${msgId}: the Report API did not answer (${error.name}: ${error.message}); deciding on the ACK alone`,
        },
      ],
      when: { delivery: input.delivery },
    });
    return {
      delivered: [],
      pending: [...targets],
      ...(updated ? { message: updated } : {}),
    };
  }
  const delivered = targets.filter(
    (rid) => statuses[rid] === DeliveryStatus.delivered
  );
  const pending = targets.filter((rid) => !delivered.includes(rid));
  const detail = targets
    .map((rid) => `${rid}: ${STATUS_TEXT[statuses[rid] ?? -1] ?? 'unknown'}`)
    .join(', ');
  let updated: CheckedMessage | undefined = await deps.messages.update(
    message.messageId,
    {
      putInMap: delivered.map((rid) => ({
        map: 'deliveredTo' as const,
        key: rid,
        value: at,
      })),
      timeline: [
        {
          at,
          event: 'report',
          detail: `attempt ${input.attempt}, JPush msg_id ${msgId}: delivered to ${delivered.length} of ${targets.length} device(s) (${detail})`,
        },
      ],
      when: { delivery: input.delivery },
    }
  );
  if (delivered.length > 0 && reportConfirms(message.policy)) {
    updated =
      (await confirmByReport(message, input, msgId, delivered, deps)) ??
      updated;
  } else if (delivered.length > 0) {
    updated =
      (await deps.messages.update(message.messageId, {
        set: { status: 'received' },
        when: { statusIn: ['sending'], delivery: input.delivery },
      })) ?? updated;
  }
  return { delivered, pending, ...(updated ? { message: updated } : {}) };
};

/**
 * Ends a message JPush reported delivered as `acknowledged`, confirmed by
 * the report, unless an ACK (or anything else) ended it first; resolves to
 * the message after it either way.
 */
const confirmByReport = async (
  message: CheckedMessage,
  input: CheckReportInput,
  msgId: string,
  delivered: readonly string[],
  deps: CheckReportDeps
): Promise<CheckedMessage | undefined> => {
  const at = deps.clock.now().toISOString();
  const policy = message.policy.confirmBy;
  const confirmed = await deps.messages.update(message.messageId, {
    set: { status: 'acknowledged', ackedAt: at, confirmedBy: 'report' },
    timeline: [
      {
        at,
        event: 'acknowledged',
        detail: `JPush's report confirmed receipt (policy confirmBy ${policy}): attempt ${input.attempt}, JPush msg_id ${msgId} delivered to ${delivered.join(', ')}`,
        confirmedBy: 'report',
      },
    ],
    when: {
      statusIn: ['sending', 'received'],
      delivery: input.delivery,
      notAcked: true,
    },
  });
  return (
    confirmed ??
    (await deps.messages.getFields(message.messageId, CHECK_FIELDS))
  );
};

const perDeviceStatus = async (
  msgId: string,
  targets: readonly string[],
  push: PushRecord,
  deps: CheckReportDeps
): Promise<Record<string, number>> => {
  const now = deps.clock.now();
  if (!deps.reportMode.countersOnly(now)) {
    try {
      return await deps.jpush.messageStatus(
        msgId,
        targets,
        jpushDate(new Date(push.at))
      );
    } catch (error) {
      if (
        !(error instanceof JPushRejectedError) ||
        !NOT_VIP_CODES.has(error.code ?? 0)
      ) {
        throw error;
      }
      deps.reportMode.rememberCountersOnly(
        new Date(now.getTime() + COUNTERS_ONLY_MS)
      );
    }
  }
  const [row] = await deps.jpush.receivedDetail([msgId]);
  const received =
    (row?.jpushReceived ?? 0) +
    (row?.androidPnsReceived ?? 0) +
    (row?.iosApnsReceived ?? 0) +
    (row?.iosMsgReceived ?? 0) +
    (row?.hmosHmpnsReceived ?? 0) +
    (row?.hmosMsgReceived ?? 0);
  const status =
    received >= targets.length
      ? DeliveryStatus.delivered
      : DeliveryStatus.notDelivered;
  return Object.fromEntries(targets.map((rid) => [rid, status]));
};
